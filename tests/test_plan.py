from tinycompress.codegen.arena import TensorLife, plan_arena


def _overlap(a, b, plan, lives):
    la, lb = lives[a], lives[b]
    in_time = la.first <= lb.last and lb.first <= la.last
    oa, ob = plan.offset(a), plan.offset(b)
    in_space = oa < ob + lb.size and ob < oa + la.size
    return in_time and in_space


def test_chain_reuses_memory():
    # x(100) -> a(60) -> b(100) -> c(10): x and b never live together, so the
    # arena needs max(x + a, a + b, b + c) = 160 bytes, not 270.
    lives = [TensorLife("x", 100, 0, 1), TensorLife("a", 60, 1, 2),
             TensorLife("b", 100, 2, 3), TensorLife("c", 10, 3, 4)]
    plan = plan_arena(lives)
    assert plan.size == 160
    by = {t.name: t for t in lives}
    for i in by:
        for j in by:
            assert i == j or not _overlap(i, j, plan, by)


def test_residual_keeps_skip_tensor_alive():
    # x is read at steps 1 and 3 (skip connection): it must not share bytes with a or b.
    lives = [TensorLife("x", 64, 0, 3), TensorLife("a", 64, 1, 2),
             TensorLife("b", 64, 2, 3), TensorLife("y", 64, 3, 4)]
    plan = plan_arena(lives)
    by = {t.name: t for t in lives}
    for i in by:
        for j in by:
            assert i == j or not _overlap(i, j, plan, by)
    assert plan.size == 192  # x, a|y, b: three live at once at most


def test_reshape_aliases_its_input():
    lives = [TensorLife("x", 32, 0, 1), TensorLife("flat", 32, 1, 2, alias_of="x"),
             TensorLife("y", 8, 2, 3)]
    plan = plan_arena(lives)
    assert plan.offset("flat") == plan.offset("x")
    assert plan.offset("y") >= 32  # x's bytes stay live until flat is read at step 2


def test_offsets_are_aligned_and_deterministic():
    lives = [TensorLife(f"t{i}", 3 + i, i, i + 1) for i in range(6)]
    first, second = plan_arena(lives), plan_arena(list(reversed(lives)))
    assert first.offsets == second.offsets
    assert all(o % 4 == 0 for o in first.offsets.values())
