import os
import time
import uuid

import pytest

from kernel.store import RedisStore, SQLiteStore, StoreUnavailable

BACKENDS = ["sqlite"] + (["redis"] if os.environ.get("REDIS_URL") else [])


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "sqlite":
        yield SQLiteStore(str(tmp_path / "store.db"), prefix="t:")
        return
    s = RedisStore(os.environ["REDIS_URL"], prefix=f"t-{uuid.uuid4().hex[:8]}:")
    yield s
    s.flush()


def test_strings_counters_and_expiry(store):
    assert store.get("k") is None
    assert store.set("k", "v") and store.get("k") == "v"
    assert store.set("k", "w", only_if_new=True) is False and store.get("k") == "v"
    assert store.incr("n") == 1 and store.incr("n", 5) == 6
    assert store.getdel("n") == "6" and store.get("n") is None
    store.set("short", "x", ttl=1)
    assert store.exists("short")
    time.sleep(1.1)
    assert not store.exists("short")
    assert store.delete("k", "missing") == 1


def test_a_counter_and_its_set_move_together(store):
    assert store.incr_marking("views:1", "dirty", "1") == 1
    assert store.incr_marking("views:1", "dirty", "1") == 2
    assert store.incr_marking("views:2", "dirty", "2") == 1
    assert sorted(store.spop("dirty", 10)) == ["1", "2"] and store.get("views:1") == "2"


def test_sets_and_sorted_sets(store):
    assert store.sadd("s", "a", "b") == 2 and store.sadd("s", "a") == 0
    assert sorted(store.spop("s", 10)) == ["a", "b"] and store.spop("s", 10) == []
    store.zincrby_many([("z", 5, "alice"), ("z", 2, "bob")])
    store.zincrby_many([("z", 4, "bob")])
    store.zadd("z", {"carol": 1})
    assert store.zrevrange("z", 0, -1) == [("bob", 6.0), ("alice", 5.0), ("carol", 1.0)]
    assert store.zrevrange("z", 0, 0) == [("bob", 6.0)]
    assert store.zscore("z", "alice") == 5.0 and store.zscore("z", "nobody") is None
    assert store.zrevrank("z", "carol") == 2
    assert store.zrem("z", "carol") == 1
    assert sorted(store.keys("z*")) == ["z"]


def test_unreachable_redis_raises_store_unavailable_fast():
    store = RedisStore("redis://127.0.0.1:1/0", timeout=0.2, cooldown=30)
    with pytest.raises(StoreUnavailable):
        store.get("x")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.incr("x")
    assert time.monotonic() - started < 0.05  # cooling down: no second timeout
