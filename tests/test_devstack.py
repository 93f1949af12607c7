"""`make run`'s runner (scripts/devstack.py): what it prints must work as printed."""

import importlib.util
import io
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def devstack():
    spec = importlib.util.spec_from_file_location("devstack", ROOT / "scripts" / "devstack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_banner_prints_the_password_the_accounts_really_have():
    """DEMO_PASSWORD from the shell wins over the generated one in var/demo.env, for the seed
    and therefore for the banner."""
    out = io.StringIO()
    with redirect_stdout(out):
        devstack().print_banner({"PORT": "8400", "DEMO_PASSWORD": "from-the-shell"})
    assert "password from-the-shell" in out.getvalue()
    assert "http://127.0.0.1:8400/" in out.getvalue()


def test_simulate_call_finds_the_server_on_any_port(tmp_path, monkeypatch):
    module = devstack()
    monkeypatch.setattr(module, "SERVER_URL_FILE", tmp_path / "server-url")
    module.remember_server_url("8400")
    assert (tmp_path / "server-url").read_text().strip() == "http://127.0.0.1:8400"


def test_each_process_is_logged_as_the_shell_runs_it():
    """The Procfile's `${PORT:-8000}` is shown with the port the stack really took."""
    module = devstack()
    web = module.procfile_processes()["web"]
    shown = module.as_the_shell_runs_it(web, {"HOST": "127.0.0.1", "PORT": "8400"})
    assert "--host 127.0.0.1 --port 8400" in shown
    assert "--forwarded-allow-ips=127.0.0.1" in shown  # unset: the Procfile's default
    assert "$" not in shown
