"""Files nvr reads at run time live inside the package and ship in the wheel.

The Alembic scripts (nvr/db/migrations), the web UI templates and static files
(nvr/web/templates, nvr/web/static) are found relative to the package, never
from the checkout; pyproject.toml's package-data must list every one of them.
scripts/check_install.sh checks the same on a real wheel install.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

import nvr.db
import nvr.web
from nvr.db.session import alembic_config, migrations_dir, upgrade

REPO = Path(__file__).resolve().parents[1]
DB_PACKAGE = Path(nvr.db.__file__).resolve().parent
WEB_PACKAGE = Path(nvr.web.__file__).resolve().parent


def _files(directory: Path) -> set[Path]:
    return {p for p in directory.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_migrations_are_inside_the_package() -> None:
    directory = migrations_dir()
    assert directory == DB_PACKAGE / "migrations"
    assert directory.is_dir()
    assert (directory / "env.py").is_file()
    assert (directory / "script.py.mako").is_file()  # `alembic revision` needs it
    versions = sorted((directory / "versions").glob("*.py"))
    assert versions, "no version scripts"
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = list(script.walk_revisions())
    assert len(revisions) == len(versions)  # every version script is a revision
    assert script.get_current_head() is not None


def test_web_templates_and_static_are_inside_the_package() -> None:
    assert (WEB_PACKAGE / "templates" / "login.html").is_file()
    assert (WEB_PACKAGE / "static" / "css" / "app.css").is_file()
    assert not (REPO / "web").exists(), "web/ at the repository root is gone: use nvr/web"
    assert not (REPO / "migrations").exists(), "migrations/ moved to nvr/db/migrations"


def test_package_data_in_pyproject_lists_every_data_file() -> None:
    """Every file under the data directories matches a package-data pattern."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    packages = {"nvr.db": DB_PACKAGE, "nvr.web": WEB_PACKAGE}
    listed: set[Path] = set()
    for package, patterns in package_data.items():
        base = packages[package]
        for pattern in patterns:
            listed |= {p for p in base.glob(pattern) if p.is_file()}
    expected = (_files(DB_PACKAGE / "migrations") | _files(WEB_PACKAGE / "templates")
                | _files(WEB_PACKAGE / "static"))
    missing = sorted(str(p.relative_to(REPO)) for p in expected - listed)
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_alembic_config_is_built_in_code() -> None:
    config = alembic_config("sqlite:///x.db")
    assert config.config_file_name is None  # no alembic.ini is read
    assert config.get_main_option("script_location") == str(migrations_dir())


def test_upgrade_works_from_another_directory(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no alembic.ini, no migrations/ here
    db = tmp_path / "data" / "nvr.db"
    upgrade(f"sqlite:///{db}")
    head = ScriptDirectory(str(migrations_dir())).get_current_head()
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            versions = list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))
        assert "segments" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert versions == [head]
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing written to the cwd


def test_developer_alembic_ini_points_at_the_package_migrations() -> None:
    ini = REPO / "alembic.ini"
    parser = configparser.ConfigParser(defaults={"here": str(REPO)})
    parser.read(ini)
    assert Path(parser.get("alembic", "script_location")).resolve() == migrations_dir()
