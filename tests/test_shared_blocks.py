"""Shared lines without torch: ``cnnshape annotate`` writes the hints' labels, and the stale-comment check
accepts a comment true for every instance and flags one that one instance contradicts."""

from __future__ import annotations

from pathlib import Path

import cnnshape_ls
from cnnshape_ls.analysis.labels import written_comment
from cnnshape_ls.cli import main
from cnnshape_ls.display import annotate_edits, line_hints

MODELS = Path(__file__).resolve().parent / "models"
RESNET = (MODELS / "m07_resnet_cifar.py").read_text()
BN2_CALL = "out = self.bn2(self.conv2(out))"


def _with_comment(text: str, needle: str, comment: str) -> str:
    return text.replace(needle, f"{needle}  {comment}", 1)


def _stale(text: str) -> list:
    return [f for f in cnnshape_ls.analyze(text, path="m07.py").findings if f.code == "stale-comment"]


def test_cli_annotate_writes_the_hint_labels(tmp_path: Path) -> None:
    for name in ("m07_resnet_cifar.py", "m12_inception_block.py"):
        target = tmp_path / name
        # a stated input: symbolic sizes like (H - 1)//2 + 1 hold parentheses a comment cannot be read back with
        target.write_text((MODELS / name).read_text().replace("class MiniGoogLeNet",
                                                               "# in: (BS, 3, 32, 32)\nclass MiniGoogLeNet"))
        analysis = cnnshape_ls.analyze(target.read_text(), path=name)
        hints = line_hints(analysis, target.read_text().split("\n"))
        shared = {h.line: h.comment for h in hints if h.comment and "×" in h.comment}
        assert len(shared) >= 5, name
        editor = {e.line: e.comment for e in annotate_edits(analysis, target.read_text())}
        assert main(["annotate", str(target)]) == 0
        written = target.read_text().split("\n")
        for line, comment in shared.items():
            found = written_comment(written[line - 1])
            assert found is not None and written[line - 1].endswith(comment), (name, line, written[line - 1])
            assert editor[line] == comment  # the editor's annotate action writes the same
        assert not [f for f in cnnshape_ls.analyze(target.read_text(), path=name).findings
                    if f.code == "stale-comment"]
        assert main(["annotate", "--check", str(target)]) == 0


def test_a_comment_true_for_every_instance_is_never_flagged() -> None:
    for comment in ("# out: (BS, planes, *, *)", "# out: (N, planes, *, *) ×8",
                    "# out: (B, 64|128|256|512, *, *)", "# out: (BS, *, *, *)"):
        assert not _stale(_with_comment(RESNET, BN2_CALL, comment)), comment


def test_one_instance_shape_is_flagged_with_the_shared_label() -> None:
    # what the first instance makes: false for the seven others
    found = _stale(_with_comment(RESNET, BN2_CALL, "# out: (BS, 64, 32, 32)"))
    assert len(found) == 1
    assert found[0].message == "This comment says (BS, 64, 32, 32), but its 8 runs give (BS, planes, *, *)"
    assert found[0].fixes[0].edits[0].new_text == "(BS, planes, *, *)"
    # a parameter the size does not equal in every instance
    assert len(_stale(_with_comment(RESNET, BN2_CALL, "# out: (BS, in_planes, *, *)"))) == 1
    # alternatives that miss one instance's channels
    assert len(_stale(_with_comment(RESNET, BN2_CALL, "# out: (BS, 64|128|256, *, *)"))) == 1


def test_a_cached_block_is_still_a_block_after_lines_move() -> None:
    """The analysis cache moves a model's lines on an edit above it: its instances' class lines move too,
    or the block would no longer be recognised as the class the model builds."""
    from cnnshape_ls.analysis.cache import Entry, Region, rebase
    from cnnshape_ls.analysis.result import is_block

    models = cnnshape_ls.analyze(RESNET, path="m07.py").models
    block = next(m for m in models if m.name == "BasicBlock")
    resnet = next(m for m in models if m.name == "ResNet")
    assert is_block(block, models)
    moved = [rebase(Entry(m, [], [Region(("all",), 1, 10_000)]), {("all",): 3})[0] for m in models]
    assert [m.line for m in moved] == [m.line + 2 for m in models]
    assert is_block(next(m for m in moved if m.name == "BasicBlock"), moved)
    assert next(m for m in moved if m.name == "ResNet").instances["layer1.0"].cls_line == \
        resnet.instances["layer1.0"].cls_line + 2


def test_a_cut_shared_hint_keeps_its_count() -> None:
    """Hints longer than VS Code shows are cut; a shared line's keeps ``×N`` (its comment is never cut)."""
    text = (MODELS / "m12_inception_block.py").read_text().replace(
        "class MiniGoogLeNet", "# in: (BS, 3, 32, 32)\nclass MiniGoogLeNet")
    lines = text.split("\n")
    hints = line_hints(cnnshape_ls.analyze(text, path="m12.py"), lines, batch_name="batch_size")
    line = next(i for i, t in enumerate(lines, 1) if "x = self.conv(x)" in t)
    [hint] = [h for h in hints if h.line == line]
    assert hint.label == "# out: (batch_size, out_channels, 16|3… ×19"
    assert hint.comment == "# out: (batch_size, out_channels, 16|32, 16|32) ×19"


def test_a_size_one_instance_does_not_know_is_a_question_mark_and_nothing_is_written() -> None:
    from cnnshape_ls.analysis.labels import InstanceRun, LineLabel, shared_text
    from cnnshape_ls.analysis.result import BlockInstance

    def run(path: str, cout: int, shape: tuple) -> InstanceRun:
        return InstanceRun(path, BlockInstance(path, "Block", 3, (("cin", 3), ("cout", cout))), shapes=[shape])

    runs = [run("a", 8, (2, 8, None)), run("b", 16, (2, 16, 4)), run("c", 32, (2, 32, 8))]
    assert shared_text(runs) == "(2, cout, ?)"
    label = LineLabel(5, "Net", [], [r.shapes[0] for r in runs], runs)
    assert label.text() == "(2, cout, ?) ×3" and label.comment() is None and not label.fits("(2, cout, *)")
    known = [run("a", 8, (2, 8, 4)), run("b", 16, (2, 16, 4)), run("c", 32, (2, 32, 8)), run("d", 3, (2, 3, 2))]
    assert shared_text(known) == "(2, cout, 2|4|8)"
    assert shared_text([*known, run("e", 3, (2, 3, 1))]) == "(2, cout, *)"  # four values: more than three
    assert shared_text([*known, run("e", 3, (2, 3))]) is None  # ranks differ: nothing holds for all


def test_cli_check_shows_a_block_through_its_instances(tmp_path: Path, capsys) -> None:
    """``cnnshape check`` prints no table of a block's generic shapes (``cin``, ``H``): it says which models
    build it and how often; those models' tables hold its instances' shapes."""
    target = tmp_path / "m12.py"
    target.write_text((MODELS / "m12_inception_block.py").read_text())
    analysis = cnnshape_ls.analyze(target.read_text(), path=str(target))
    built = {m.name: sum(1 for path, i in m.instances.items() if path and i.cls == "BasicConv2d")
             for m in analysis.models}
    main(["check", str(target)])
    out = capsys.readouterr().out
    assert "Model BasicConv2d" not in out
    said = next(line for line in out.splitlines() if "Block BasicConv2d" in line)
    for name, count in built.items():
        if count:
            assert f"{count}× in {name}" in said, said
    assert "Model MiniGoogLeNet" in out and "a3.branch1" in out
