import torch

from ubm.evaluation.model import HIDDEN_SIZE_THIN, HIDDEN_SIZE_WIDE, UniversalNet, build_model, parameter_count


def test_parameter_count_on_paper():
    # D = 320, 100 labels, thin 2048, wide 4096:
    #   input_projection  320*2048 + 2048            =    657,408
    #   5 LayerNorms      5 * (2048 + 2048)          =     20,480
    #   3 bottlenecks     3 * (2048*4096 + 4096 + 4096*2048 + 2048)
    #                     = 3 * 16,783,360           = 50,350,080
    #   linear_output     2048*100 + 100             =    204,900
    #   total                                        = 51,232,868
    assert parameter_count(320, 100) == 51_232_868
    model = UniversalNet(320, 100)
    assert sum(p.numel() for p in model.parameters()) == 51_232_868


def test_parameter_count_formula_other_shape():
    # D = 2048, 1 output: 4,196,352 + 20,480 + 50,350,080 + 2,049 = 54,568,961
    assert parameter_count(2048, 1) == 54_568_961
    assert HIDDEN_SIZE_THIN == 2048 and HIDDEN_SIZE_WIDE == 4096


def test_registration_order_and_names():
    model = UniversalNet(7, 3)
    names = [name for name, _ in model.named_parameters()]
    expected = ["input_projection.weight", "input_projection.bias", "ln_input.weight", "ln_input.bias"]
    expected += [f"layernorms.{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    expected += [f"bottlenecks.{i}.{layer}.{p}" for i in range(3) for layer in ("l1", "l2") for p in ("weight", "bias")]
    expected += ["ln_output.weight", "ln_output.bias", "linear_output.weight", "linear_output.bias"]
    assert names == expected
    shapes = dict((n, tuple(p.shape)) for n, p in model.named_parameters())
    assert shapes["input_projection.weight"] == (2048, 7)
    assert shapes["bottlenecks.0.l1.weight"] == (4096, 2048)
    assert shapes["bottlenecks.2.l2.weight"] == (2048, 4096)
    assert shapes["linear_output.weight"] == (3, 2048)
    gelus = [m for m in model.modules() if isinstance(m, torch.nn.GELU)]
    assert len(gelus) == 3 and all(g.approximate == "none" for g in gelus)


def test_same_seed_same_weights_regardless_of_prior_rng_use():
    torch.rand(1000)  # consume the global RNG: build_model must reseed
    a = build_model(5, 2).state_dict()
    torch.rand(77)
    b = build_model(5, 2).state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = build_model(5, 2, seed=1).state_dict()
    assert not torch.equal(a["input_projection.weight"], c["input_projection.weight"])


def test_creation_order_matches_manual_construction():
    # The official order: projection, ln_input, 3 norms, 3 blocks (l1, l2), ln_output, linear_output.
    # Building those Linear layers by hand in that order after the same seed gives the same draws.
    net = build_model(6, 2)
    torch.manual_seed(1278)
    proj = torch.nn.Linear(6, 2048)
    for _ in range(4):
        torch.nn.LayerNorm(2048)  # no RNG use, order irrelevant but kept
    blocks = [(torch.nn.Linear(2048, 4096), torch.nn.Linear(4096, 2048)) for _ in range(3)]
    torch.nn.LayerNorm(2048)
    head = torch.nn.Linear(2048, 2)
    assert torch.equal(net.input_projection.weight, proj.weight)
    assert torch.equal(net.bottlenecks[1].l1.weight, blocks[1][0].weight)
    assert torch.equal(net.bottlenecks[2].l2.bias, blocks[2][1].bias)
    assert torch.equal(net.linear_output.weight, head.weight)


def test_forward_shape_and_residual_structure():
    net = build_model(4, 3)
    x = torch.randn(5, 4)
    with torch.no_grad():
        out = net(x)
        h = net.ln_input(net.input_projection(x))
        for norm, block in zip(net.layernorms, net.bottlenecks):
            h = h + block.l2(torch.nn.functional.gelu(block.l1(norm(h))))
        ref = net.linear_output(net.ln_output(h))
    assert out.shape == (5, 3)
    assert torch.equal(out, ref)
