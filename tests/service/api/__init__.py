"""HTTP tests: unit tests over fakes and integration tests against a live server."""
