"""Settings of the MCP tool server, read from the environment (one pydantic-settings class)."""

from functools import lru_cache
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def sqlalchemy_url(url: str) -> str:
    """Point a plain postgres:// or postgresql:// URL at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: SecretStr = Field(description="Postgres URL, e.g. postgresql://user:pass@host:5432/todo")
    mcp_service_token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the page's service token: the server never holds the token itself",
    )
    mcp_host: str = "127.0.0.1"
    mcp_port: int = Field(default=8000, ge=1, le=65535)
    mcp_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["localhost:*", "127.0.0.1:*"],
        description="Host headers accepted on /mcp; 'name:*' allows any port",
    )
    mcp_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"],
        description="Origin headers accepted on /mcp (browser-based MCP clients); others get 403",
    )
    mcp_public_url: str | None = Field(
        default=None,
        description="Public URL of the MCP endpoint (https://host/mcp): the `resource` of the OAuth protected resource "
        "metadata. Unset: the URL the request came in on",
    )
    # Single sign-on: access tokens (JWTs) from the organisation's OpenID provider (mcp_server/oidc.py)
    mcp_oidc_issuer: str | None = Field(default=None, description="The provider's issuer URL; unset: OIDC is off")
    mcp_oidc_audience: str | None = Field(default=None, description="The `aud` the tokens must carry (required)")
    mcp_oidc_user_claim: str = Field(default="email", min_length=1, description="The claim that is the user id")
    mcp_oidc_jwks_cooldown_seconds: float = Field(
        default=5.0, ge=0, le=3600, description="Least time between two fetches of the provider's keys for unknown ids"
    )
    mcp_migrate_on_start: bool = True
    mcp_workers: int = Field(default=1, ge=1, le=64, description="Server processes; in Kubernetes prefer replicas")
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Database connections per server process, kept open; more concurrent calls wait for one",
    )
    db_connect_timeout: int = Field(default=3, ge=1, le=60, description="Seconds to wait for a connection")
    log_level: LogLevel = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator("mcp_allowed_hosts", "mcp_allowed_origins", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _oidc_needs_audience(self) -> Self:
        if self.mcp_oidc_issuer and not self.mcp_oidc_audience:
            raise ValueError(
                "MCP_OIDC_ISSUER is set without MCP_OIDC_AUDIENCE: set it to the audience the provider puts in its "
                "access tokens for this server (usually the public URL of /mcp)"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.database_url.get_secret_value())

    @field_validator("mcp_service_token_sha256", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def origin_patterns(self) -> list[str]:
        """Allowed origins as the SDK's own check reads them: 'scheme://name:*' also admits the bare origin."""
        bare = (origin.removesuffix(":*") for origin in self.mcp_allowed_origins)
        return list(dict.fromkeys([*self.mcp_allowed_origins, *bare]))

    @property
    def host_patterns(self) -> list[str]:
        """Allowed Host headers; 'name:*' also admits the bare name (a Host header without a port)."""
        patterns: list[str] = []
        for host in self.mcp_allowed_hosts:
            patterns.append(host)
            if host.endswith(":*"):
                patterns.append(host[:-2])
        return patterns


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment
