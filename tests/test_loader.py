"""The loader: file names to an ordered chain, without importing anything."""

import datetime

import pytest

from bridge.loader import parse_name, read_docstring, scan


def test_parse_name_returns_the_date_and_description_or_the_reason():
    assert parse_name("20251031_add_error_message.py") == (datetime.date(2025, 10, 31), "add_error_message")
    assert parse_name("2025-10-31_x.py") == "the date has dashes; write it as YYYYMMDD"
    assert parse_name("20251031-x.py") == "the date must be followed by '_'"
    assert parse_name("20251399_x.py") == "20251399 is not a real date (YYYYMMDD)"
    assert parse_name("20250229_x.py") == "20250229 is not a real date (YYYYMMDD)"
    assert parse_name("20240229_x.py")[0] == datetime.date(2024, 2, 29)
    assert parse_name("20251031_add-x.py").startswith("the description may contain only letters")
    assert parse_name("2025103_x.py") == "the name must start with an 8-digit date YYYYMMDD"


def test_scan_orders_by_file_name_and_reports_only_files_that_look_like_migrations(tmp_path):
    for name in ("20251015_b.py", "20251015_a.py", "20251001_z.py", "env.py", "__init__.py", "helpers.py"):
        (tmp_path / name).write_text("x = 1\n")
    (tmp_path / "add_column.py").write_text("def upgrade(engine):\n    pass\n")
    (tmp_path / "20251031-bad.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    found = scan(tmp_path)
    assert [f.stem for f in found.files] == ["20251001_z", "20251015_a", "20251015_b"]
    assert sorted(p.name for p, _ in found.problems) == ["20251031-bad.py", "add_column.py"]


def test_ignore_globs_exclude_files(tmp_path):
    (tmp_path / "2025-draft.py").write_text("")
    (tmp_path / "20251001_a.py").write_text("")
    found = scan(tmp_path, ignore=("2025-*.py",))
    assert found.problems == [] and [f.stem for f in found.files] == ["20251001_a"]


def test_the_title_comes_from_the_docstring_or_the_description(tmp_path):
    (tmp_path / "20251001_add_x.py").write_text('"""\nMigration: Add the X column\nDate: 2025-10-01\n"""\nimport os\n')
    (tmp_path / "20251002_add_y.py").write_text("# just a comment\nimport os\n")
    (tmp_path / "20251003_add_z.py").write_text("# -*- coding: utf-8 -*-\n'''Créer la table z'''\n")
    titles = [f.title() for f in scan(tmp_path).files]
    assert titles == ["Add the X column", "add y", "Créer la table z"]


def test_reading_a_docstring_never_runs_the_file(tmp_path):
    path = tmp_path / "20251001_boom.py"
    path.write_text('"""Doc"""\nraise SystemExit("imported")\n')
    assert read_docstring(path) == "Doc"


def test_a_file_that_does_not_parse_has_no_docstring_but_still_loads(tmp_path):
    (tmp_path / "20251001_broken.py").write_text("def upgrade(engine)\n    pass\n")
    (f,) = scan(tmp_path).files
    assert f.title() == "broken"


def test_a_dated_file_with_an_upper_case_extension_is_reported_not_skipped(tmp_path):
    (tmp_path / "20251001_a.py").write_text("")
    (tmp_path / "20251002_shout.PY").write_text("def upgrade(engine):\n    pass\n")
    found = scan(tmp_path)
    assert [f.stem for f in found.files] == ["20251001_a"]
    assert found.problems == [
        (
            tmp_path / "20251002_shout.PY",
            "the extension must be lower-case .py (the legacy runner only runs *.py files)",
        )
    ]


def test_a_dangling_symlink_named_like_a_migration_is_reported_not_skipped(tmp_path):
    (tmp_path / "20251001_a.py").write_text("")
    (tmp_path / "20251002_gone.py").symlink_to(tmp_path / "elsewhere" / "20251002_gone.py")
    found = scan(tmp_path)
    assert [f.stem for f in found.files] == ["20251001_a"]
    assert found.problems == [
        (
            tmp_path / "20251002_gone.py",
            f"a symbolic link to {tmp_path / 'elsewhere' / '20251002_gone.py'}, which does not exist; "
            "restore the target or remove the link",
        )
    ]


def test_a_symlink_to_a_real_migration_file_is_a_migration(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.py").write_text("")
    (tmp_path / "20251001_linked.py").symlink_to(tmp_path / "shared" / "x.py")
    found = scan(tmp_path)
    assert [f.stem for f in found.files] == ["20251001_linked"] and found.problems == []


# -- read_docstring: the regular-expression path agrees with the tokenizer -----------


@pytest.mark.parametrize(
    "source",
    [
        b'"""\nMigration: Add x\nDate: 2025-10-31\n"""\nimport os\n',
        b"'''single quotes'''\n",
        b'"one line"\n',
        b'# comment\n\n  """after a comment"""\n',
        b'r"""raw \\n kept"""',
        b'b"""bytes"""',
        b'f"""not a docstring"""',
        b'"""a \\""" b"""',
        b'""""quoted" first"""',
        b'"""\xc3\xa9t\xc3\xa9"""',
        b'"""latin \xe9"""',
        b'\xef\xbb\xbf"""bom"""',
        b'# -*- coding: latin-1 -*-\n"""caf\xe9"""',
        b'"""unterminated',
        b'import os\n"""late"""',
        b"",
        b'"""a""" "b"',
        b'"""crlf\r\nline"""\r\n',
        b'#c\r"""lone cr"""',
        b'"\\N{EM DASH}"',
    ],
)
def test_a_docstring_is_read_exactly_as_the_tokenizer_reads_it(tmp_path, source):
    from bridge.loader import docstring_by_tokens, read_docstring

    path = tmp_path / "20251031_x.py"
    path.write_bytes(source)
    assert read_docstring(path) == docstring_by_tokens(source)
