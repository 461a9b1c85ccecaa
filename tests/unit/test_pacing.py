from bot.pacing import TokenBucket


def test_burst_then_refill():
    bucket = TokenBucket(capacity=3, rate=1.0, updated=0.0)
    assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.delay(0.0) == 1.0
    assert not bucket.try_take(0.5)
    assert bucket.try_take(1.0)


def test_refill_is_capped_at_capacity():
    bucket = TokenBucket(capacity=2, rate=10.0, updated=0.0)
    bucket.try_take(0.0)
    assert bucket.is_full(100.0)
    assert [bucket.try_take(100.0) for _ in range(3)] == [True, True, False]


def test_clock_going_backwards_gives_nothing():
    bucket = TokenBucket(capacity=1, rate=1.0, updated=10.0)
    assert bucket.try_take(10.0)
    assert not bucket.try_take(5.0)
