"""HTTP only: routers, the API-key dependency, problem+json errors."""
