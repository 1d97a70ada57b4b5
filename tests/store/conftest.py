from tests.ingesting import store  # noqa: F401  (the shared fixture)
