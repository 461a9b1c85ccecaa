"""Operations (SPEC 8b): the `/healthz` and `/metrics` endpoints and the 409 Conflict report."""
