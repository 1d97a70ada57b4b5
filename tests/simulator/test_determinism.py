"""Same seed and options, same bytes; another seed, another log."""

from __future__ import annotations

from safeguards.simulator import SimOptions, simulate_to


def _bytes(tmp_path, name: str, options: SimOptions) -> tuple[bytes, bytes]:
    summary, labels = simulate_to(tmp_path / name, options)
    return (tmp_path / name).read_bytes(), labels.read_bytes()


def test_same_seed_same_bytes(tmp_path):
    options = SimOptions(seed=5, groups=300)
    assert _bytes(tmp_path, "a.jsonl", options) == _bytes(tmp_path, "b.jsonl", options)


def test_same_seed_same_parquet_bytes(tmp_path):
    options = SimOptions(seed=5, groups=200)
    assert _bytes(tmp_path, "a.parquet", options) == _bytes(tmp_path, "b.parquet", options)


def test_different_seed_different_log(tmp_path):
    assert _bytes(tmp_path, "a.jsonl", SimOptions(seed=5, groups=300)) != \
        _bytes(tmp_path, "b.jsonl", SimOptions(seed=6, groups=300))


def test_sized_in_events_stops_after_whole_groups(tmp_path):
    summary, _ = simulate_to(tmp_path / "e.jsonl", SimOptions(seed=1, events=5000))
    assert 5000 <= summary.events < 5200
    assert sum(1 for _ in open(tmp_path / "e.jsonl")) == summary.events
