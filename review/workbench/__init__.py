"""Reviewer workbench: a local web app where a nurse triages reviewed cases.

``review serve --cases DIR`` (or ``--results DIR``) starts it on 127.0.0.1. Pages: the queue
(pended first, filters, counts), a case page (the HTML report plus an accept / override form), a
drafted request for additional documentation for pended cases, and exports of reviewed decisions.
Every accept or override is inserted into an append-only, hash-chained audit table in SQLite or
PostgreSQL (:mod:`.store`, :mod:`.chain`, :mod:`.database`, :mod:`.schema`, migrations in
:mod:`.migrations`; ``review audit verify`` checks it).

Sign-in (``--auth local``, or ``--auth oidc`` through the organisation's OpenID provider,
:mod:`.oidc` and :mod:`.oidc_signin`; the default ``--auth none`` has none, loopback only): accounts, roles
and server-side sessions in the same database (:mod:`.accounts`, migration 0002), the gate and the
sign-in provider seam in :mod:`.auth`, the permission each route needs in :mod:`.state`. A nurse's
medical-necessity denial is a referral a physician confirms or reverses; cases are taken or
assigned (:mod:`.routes.case`); each step is a row of the same audit trail.

FastAPI is imported only by the web app: :mod:`.app`, which assembles :mod:`.security`,
:mod:`.state`, :mod:`.pages`, the routers in :mod:`.routes` and the FHIR API in :mod:`.fhir_api`.
:mod:`.serve`, :mod:`.store`, :mod:`.chain`, :mod:`.cases`, :mod:`.letter`, :mod:`.decisions`
and :mod:`.accounts` import without it (the CLI checks the bind address first); opening an audit database needs
SQLAlchemy and alembic (the same extra; psycopg for PostgreSQL).
"""
