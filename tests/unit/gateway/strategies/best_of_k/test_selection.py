from __future__ import annotations

from gateway.strategies.best_of_k.selection import Evidence, codet_scores, mbr_cluster_sizes, select


def ev(index: int, **kw: object) -> Evidence:
    defaults: dict[str, object] = {"order": index, "requested": False, "has_code": True}
    defaults.update(kw)
    return Evidence(index=index, **defaults)  # type: ignore[arg-type]


def test_trusted_tests_come_first() -> None:
    chosen = select(
        [ev(0, trusted_passed=1, generated_passed=frozenset({0, 1, 2})), ev(1, trusted_passed=2)]
    )
    assert (chosen.winner, chosen.method) == (1, "tests")


def test_codet_prefers_agreement_over_a_lone_full_pass() -> None:
    # Three candidates agree on tests {0, 1}; one alone passes {0, 1, 2}: 3x2 beats 1x3.
    items = [ev(i, generated_passed=frozenset({0, 1})) for i in range(3)]
    items.append(ev(3, generated_passed=frozenset({0, 1, 2})))
    assert codet_scores(items) == {0: 6.0, 1: 6.0, 2: 6.0, 3: 3.0}
    chosen = select(items)
    assert chosen.winner == 0 and chosen.method == "codet"


def test_mbr_exec_breaks_codet_ties() -> None:
    items = [ev(0, outputs=("1",)), ev(1, outputs=("2",)), ev(2, outputs=("2",))]
    assert mbr_cluster_sizes(items) == {0: 1, 1: 2, 2: 2}
    assert select(items).winner == 1
    assert select(items).method == "mbr-exec"


def test_ranker_then_the_requested_candidate_then_order() -> None:
    assert select([ev(0, energy=2.0), ev(1, energy=1.0)]).method == "lens"
    # Verification could not separate them: the client's own candidate, even if it came last.
    requested = select([ev(0, order=1), ev(1, order=0, requested=True)])
    assert (requested.winner, requested.method) == (1, "requested")
    same = select([ev(0, order=2), ev(1, order=1)])
    assert (same.winner, same.method) == (1, "first")
    assert select([ev(5)]).method == "only"


def test_tests_the_model_wrote_often_weigh_more() -> None:
    # Two camps of two: one passes test 0 (written 5 times), the other test 1 (once).
    items = [
        ev(0, generated_passed=frozenset({1})),
        ev(1, generated_passed=frozenset({1})),
        ev(2, generated_passed=frozenset({0})),
        ev(3, generated_passed=frozenset({0})),
    ]
    assert select(items).winner == 0  # unweighted: a tie, the earlier camp
    assert select(items, test_weights=[5.0, 1.0]).winner == 2
