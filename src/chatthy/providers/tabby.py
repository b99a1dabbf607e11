"""The ``tabby`` scheme: a tabbyAPI server, which speaks OpenAI plus its own admin API.

Chat goes through the openai scheme unchanged; this adds what tabbyAPI offers beyond it:
listing every model in its model directory (``GET /v1/model/list``, complete with an
admin key) and loading one (``POST /v1/model/load``, admin key in ``x-admin-key``),
which answers with an SSE stream of progress that ends once the model is ready.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chatthy.config import ProviderConfig
from chatthy.errors import ProviderAuthError, ProviderError
from chatthy.providers._common import upstream_message
from chatthy.providers._sse import SSESplitter
from chatthy.providers.base import Capabilities
from chatthy.providers.openai import OpenAIProvider

__all__ = ["TabbyProvider"]

DEFAULT_URL = "http://127.0.0.1:5000/v1"
LOAD_TIMEOUT = 600.0
"""Seconds a model load may take: large models need minutes to reach the GPU."""


class TabbyProvider(OpenAIProvider):
    """An OpenAI-compatible provider that can also list and load tabbyAPI's models."""

    capabilities = Capabilities(tools=True, vision=True, reasoning=True, model_loading=True)

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        super().__init__(name, msgspec.structs.replace(cfg, base_url=cfg.base_url or DEFAULT_URL))

    def _admin_headers(self) -> dict[str, str]:
        key = self.cfg.admin_key or self.cfg.api_key
        return {"x-admin-key": key} if key else {}

    async def models(self) -> list[str]:
        """Every model tabbyAPI can load (with an admin key), else the loaded one.

        Raises:
            ProviderError: the server has no model list (not tabbyAPI, or an old one),
                or could not be asked.
        """
        import httpx2

        try:
            response = await self.client.get(
                "model/list", cast_to=httpx2.Response, options={"headers": self._admin_headers()}
            )
            return [card["id"] for card in response.json().get("data", [])]
        except ProviderError:
            raise
        except self.sdk_errors.status as exc:
            if getattr(exc, "status_code", 0) in (404, 405):
                raise self._no_model_list() from exc
            raise self.fail.translate(exc, self.model, self.sdk_errors, False) from exc
        except Exception as exc:
            raise self.fail.translate(exc, self.model, self.sdk_errors, False) from exc

    def _no_model_list(self) -> ProviderError:
        """A 404 there means the endpoint is missing, not a model: "model not found"
        would send the user looking for the wrong thing."""
        url = f"{str(self.base_url).rstrip('/')}/model/list"
        return ProviderError(
            f"{self.fail.prefix}: the server has no model list ({url}): set model in server.toml"
        )

    async def load_model(self, name: str) -> None:
        """Load ``name`` on the server and make it this provider's default model.

        Raises:
            ProviderAuthError: no admin key, or the server refused it.
            ProviderError: the server could not load the model.
        """
        import httpx2

        if not self._admin_headers():
            raise ProviderAuthError(f"{self.fail.prefix}: loading a model needs admin_key")
        try:
            response = await self.client.post(
                "model/load",
                cast_to=httpx2.Response,
                body={"name": name},
                options={
                    "headers": self._admin_headers(),
                    "timeout": max(self.cfg.timeout, LOAD_TIMEOUT),
                },
            )
        except self.sdk_errors.status as exc:
            raise self._load_refused(name, exc) from exc
        except Exception as exc:
            raise self.fail.translate(exc, name, self.sdk_errors, False) from exc
        self._check_progress(name, response.content)
        self.model = name

    def _load_refused(self, name: str, exc: Exception) -> ProviderError:
        code = getattr(exc, "status_code", 0)
        if code in (401, 403):
            return ProviderAuthError(f"{self.fail.prefix}: invalid admin key")
        detail = upstream_message(getattr(exc, "body", None), f"error {code}")
        return ProviderError(f"{self.fail.prefix}: cannot load model '{name}': {detail}")

    def _check_progress(self, name: str, body: bytes) -> None:
        """Raise unless the progress stream reports the load finished."""
        splitter = SSESplitter()
        steps: list[Any] = []
        for payload in splitter.feed(body) + splitter.finish():
            try:
                steps.append(msgspec.json.decode(payload))
            except msgspec.DecodeError:
                continue
        for step in steps:
            if isinstance(step, dict) and step.get("error"):
                detail = upstream_message(step)
                raise ProviderError(f"{self.fail.prefix}: cannot load model '{name}': {detail}")
        if not steps or not isinstance(steps[-1], dict) or steps[-1].get("status") != "finished":
            raise ProviderError(f"{self.fail.prefix}: load of model '{name}' did not finish")
