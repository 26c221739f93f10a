"""The arena planner (codegen.arena): lower bound, greedy orders, branch-and-bound."""
from __future__ import annotations

import itertools

import numpy as np

from tinycompress.codegen.arena import TensorLife, _Packer, group_aliases, lower_bound, plan_arena


def _disjoint(plan, lives):
    for a, b in itertools.combinations(lives, 2):
        if a.first <= b.last and b.first <= a.last:
            oa, ob = plan.offset(a.name), plan.offset(b.name)
            assert oa + a.size <= ob or ob + b.size <= oa, (a.name, b.name)


def test_lower_bound_is_the_largest_live_total():
    # steps: 0: x; 1: x, a; 2: a, b; 3: b, c -> max(100, 160, 160, 110) = 160
    lives = [TensorLife("x", 100, 0, 1), TensorLife("a", 60, 1, 2),
             TensorLife("b", 100, 2, 3), TensorLife("c", 10, 3, 4)]
    assert lower_bound(lives) == 160
    plan = plan_arena(lives)
    assert plan.size == 160 and plan.optimal and plan.method.startswith("greedy")


def test_branch_and_bound_beats_every_greedy_order():
    # t0 16 B (step 0), t1 16 (3-5), t2 28 (1-3), t3 24 (3), t4 28 (0-2). Live totals:
    # step 0: 44, steps 1-2: 56, step 3: t1 + t2 + t3 = 68, the lower bound.
    # Largest first: t4 at 0, t2 at 28 (live with t4), t3 at 0, t0 at 28, and t1 (live
    # with t3 [0, 24) and t2 [28, 56)) fits in neither gap: at 56, 72 B. Optimal: t3 and
    # t4 share 0, t1 at 24 on t3, t2 at 40 above both, t0 at 28 on t4: 68 B.
    lives = [TensorLife("t0", 16, 0, 0), TensorLife("t1", 16, 3, 5), TensorLife("t2", 28, 1, 3),
             TensorLife("t3", 24, 3, 3), TensorLife("t4", 28, 0, 2)]
    assert plan_arena(lives, budget=0).size == 72
    plan = plan_arena(lives)
    assert (plan.size, plan.lower_bound, plan.method) == (68, 68, "branch-and-bound")
    assert plan.optimal
    _disjoint(plan, lives)


def _brute_force(lives):
    packer = _Packer(group_aliases(lives))
    return min(packer.pack(list(p))[0] for p in itertools.permutations(range(len(lives))))


def test_branch_and_bound_finds_the_best_placement_order():
    # 30 random instances of 6 buffers: with the budget to try every order, the plan is
    # as small as the best of all 720 orders.
    rng = np.random.default_rng(11)
    for _ in range(30):
        lives = []
        for k in range(6):
            first = int(rng.integers(0, 6))
            lives.append(TensorLife(f"t{k}", 4 * int(rng.integers(1, 20)), first,
                                    first + int(rng.integers(0, 4))))
        plan = plan_arena(lives, budget=10_000)
        greedy = plan_arena(lives, budget=0)
        _disjoint(plan, lives)
        assert plan.size == _brute_force(lives) >= plan.lower_bound
        assert plan.size <= greedy.size


def test_plan_is_deterministic_and_independent_of_list_order():
    rng = np.random.default_rng(3)
    lives = [TensorLife(f"t{k}", int(rng.integers(1, 200)), k // 2, k // 2 + int(rng.integers(0, 5)))
             for k in range(40)]
    first, again = plan_arena(lives), plan_arena(lives)
    assert first.offsets == again.offsets and first.size == again.size
    assert plan_arena(list(reversed(lives))).size == first.size
    _disjoint(first, lives)
