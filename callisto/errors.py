"""The exception tree of Callisto.

Every error Callisto raises on purpose derives from :class:`CallistoError`. The API layer maps
each subclass, once and in one place (``callisto/api/errors.py``), to an HTTP status and an
OpenAI-shaped error body ``{"error": {"message", "type", "param", "code"}}``::

    CallistoError
    ├── InvalidRequest            400  invalid_request_error
    │   └── ConflictingState      400  (thread locked, wrong run status; never 409: the SDK retries 409)
    ├── AuthenticationFailed      401  authentication_error
    ├── NotFound                  404  invalid_request_error
    ├── RateLimited               429  rate_limit_exceeded
    └── ProviderError             502  (only surfaces on a run's ``last_error``, never as a route error)
        ├── ProviderTimeout
        ├── ProviderServerError
        ├── ProviderRateLimited
        ├── ProviderAuthError
        └── ProviderBadRequest
"""

from __future__ import annotations


class CallistoError(Exception):
    """Base of every error Callisto raises on purpose.

    Attributes:
        message: A human-readable message, safe to show to API clients.
        param: The request parameter at fault, if any.
        code: A short machine-readable code, if any.
    """

    status_code = 500
    error_type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(CallistoError):
    """The request is malformed or breaks a rule of the API."""

    status_code = 400
    error_type = "invalid_request_error"


class ConflictingState(InvalidRequest):
    """The request conflicts with the current state (a locked thread, a run in the wrong status).

    OpenAI answers these with 400; 409 would make the SDK retry the request.
    """


class AuthenticationFailed(CallistoError):
    """The request carries no valid API key."""

    status_code = 401
    error_type = "invalid_request_error"


class NotFound(CallistoError):
    """The object named in the request does not exist."""

    status_code = 404
    error_type = "invalid_request_error"


class RateLimited(CallistoError):
    """Too many requests."""

    status_code = 429
    error_type = "rate_limit_exceeded"


class ProviderError(CallistoError):
    """A model provider failed. Becomes a run's ``last_error``; the message never holds a key.

    Attributes:
        retryable: Whether the same request may succeed when sent again.
        retry_after: Seconds the provider asked us to wait, if it said.
    """

    status_code = 502
    error_type = "server_error"
    run_error_code = "server_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class ProviderTimeout(ProviderError):
    """The provider did not answer (or stopped answering) in time."""

    retryable = True


class ProviderServerError(ProviderError):
    """The provider answered 5xx, or the connection broke."""

    retryable = True


class ProviderRateLimited(ProviderError):
    """The provider answered 429."""

    retryable = True
    run_error_code = "rate_limit_exceeded"


class ProviderAuthError(ProviderError):
    """The provider refused our credentials (401/403)."""


class ProviderBadRequest(ProviderError):
    """The provider refused the request as malformed (400/404/422)."""

    run_error_code = "invalid_prompt"
