"""The team online store: Redis, one string key per view layout and entity.

Keys are ``<prefix><view>@<layout>:<entity key>`` and hold
``<event_ts_us>|<values JSON>``; a lookup of many entities and views is one
pipelined round trip of ``MGET``s. Conditional writes run as a Lua script
(batches of keys), so a concurrent or repeated materialisation never
replaces a newer value with an older one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mlstage.errors import InvalidInput, Unavailable

DEFAULT_PREFIX = "mlstage:"
_BATCH = 1_000
_WRITE = """
local n = 0
for i, key in ipairs(KEYS) do
  local new = ARGV[i]
  local cur = redis.call('GET', key)
  if cur ~= new then
    local write = true
    if cur then
      local cts = tonumber(string.sub(cur, 1, string.find(cur, '|', 1, true) - 1))
      local nts = tonumber(string.sub(new, 1, string.find(new, '|', 1, true) - 1))
      if cts > nts then write = false end
    end
    if write then
      redis.call('SET', key, new)
      n = n + 1
    end
  end
end
return n
"""


class RedisOnlineStore:
    """``redis://host:port/db``, optionally ``?key_prefix=team:`` (default ``mlstage:``)."""

    def __init__(self, url: str, *, key_prefix: str | None = None) -> None:
        try:
            import redis
        except ImportError as exc:
            raise InvalidInput(
                "online_store is a redis:// URL but the redis package is not installed "
                "(pip install 'mlstage[redis]')"
            ) from exc
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        prefixes = [v for k, v in query if k == "key_prefix"]
        rest = [(k, v) for k, v in query if k != "key_prefix"]
        self.prefix = (
            key_prefix if key_prefix is not None else (prefixes[-1] if prefixes else DEFAULT_PREFIX)
        )
        clean = urlunsplit(parts._replace(query=urlencode(rest)))
        self.client: Any = redis.Redis.from_url(clean, socket_timeout=10.0)
        host = parts.hostname or "localhost"
        self.store_id = (
            f"redis://{host}:{parts.port or 6379}{parts.path or '/0'}?key_prefix={self.prefix}"
        )
        self._script = self.client.register_script(_WRITE)
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def _key(self, storage_id: str, key: str) -> str:
        return f"{self.prefix}{storage_id}:{key}"

    def write(self, storage_id: str, rows: Iterable[tuple[str, int, bytes | str]]) -> int:
        changed = 0
        keys: list[str] = []
        values: list[bytes] = []
        try:
            for key, ts, vals in rows:
                keys.append(self._key(storage_id, key))
                packed = vals.encode() if isinstance(vals, str) else vals
                values.append(b"%d|%s" % (ts, packed))
                if len(keys) >= _BATCH:
                    changed += int(self._script(keys=keys, args=values))
                    keys, values = [], []
            if keys:
                changed += int(self._script(keys=keys, args=values))
        except self._errors as exc:
            raise Unavailable(f"cannot reach the online store {self.store_id}: {exc}") from exc
        return changed

    def read(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[str | bytes | None]]:
        try:
            if len(requests) == 1:
                storage_id, keys = requests[0]
                raw = [self.client.mget([self._key(storage_id, k) for k in keys])]
            else:
                pipe = self.client.pipeline(transaction=False)
                for storage_id, keys in requests:
                    pipe.mget([self._key(storage_id, k) for k in keys])
                raw = pipe.execute()
        except self._errors as exc:
            raise Unavailable(f"cannot reach the online store {self.store_id}: {exc}") from exc
        return [[None if v is None else v[v.index(b"|") + 1 :] for v in values] for values in raw]

    def close(self) -> None:
        self.client.close()
