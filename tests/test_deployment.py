"""The deployment files agree with each other and with the settings (CONTRACT §1, §2): every
Procfile process is a docker-compose service running the same command line with the same
defaults, the stack passes every documented variable, and a production configuration passes
Django's deployment checks without a warning."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent

# CONTRACT §2, less DEMO_PASSWORD (only `make run`'s demo accounts use it).
CONTRACT_VARIABLES = {
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "PUBLIC_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TELEPHONY_BACKEND",
    "FALLBACK_PHONE_NUMBER",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_TWIML_APP_SID",
    "METRICS_TOKEN",
    "SMS_GATEWAY_SECRET",
}


def procfile():
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_variables():
    """The environment variables config/settings.py reads (`env("X"…)`, `env.bool("X"…)`…)."""
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", source))


def procfile_variables():
    return {name for line in procfile().values() for name in re.findall(r"\$\{(\w+)", line)}


def as_run(command):
    """A Compose command as the container's shell receives it: `$$` is Compose's escape for
    a literal `$`; a lone `$` would be interpolated by Compose on the host instead."""
    assert isinstance(command, str), "write the command as one line, like the Procfile's"
    assert not re.search(r"(?<!\$)\$(?!\$)", command.replace("$$", "")), command
    return " ".join(command.replace("$$", "$").split())


def test_settings_read_every_contract_variable():
    assert CONTRACT_VARIABLES - {"DJANGO_DEBUG"} <= settings_variables()
    assert "DJANGO_DEBUG" in settings_variables()


def test_each_procfile_process_is_a_compose_service_with_the_same_command(compose):
    services = compose["services"]
    processes = procfile()
    assert set(processes) == {"web", "worker", "beat"}
    for name, command in processes.items():
        assert name in services, name
        assert as_run(services[name]["command"]) == " ".join(command.split()), name


def test_the_stack_has_its_backing_services_and_a_migrate_step(compose):
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    migrations = [
        name
        for name, service in services.items()
        if "manage.py migrate" in " ".join(map(str, [service.get("command", "")]))
    ]
    assert migrations, "no service runs `python manage.py migrate`"
    [migrate] = migrations
    assert services[migrate].get("restart") == "no", "a one-shot must not restart forever"
    for name in procfile():
        depends_on = services[name]["depends_on"]
        assert depends_on[migrate]["condition"] == "service_completed_successfully", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name


def test_the_app_services_get_the_documented_environment(compose):
    known = settings_variables() | procfile_variables()
    for name in [*procfile(), "migrate"]:
        environment = compose["services"][name]["environment"]
        assert isinstance(environment, dict), name
        assert set(environment) >= CONTRACT_VARIABLES, (name, CONTRACT_VARIABLES - set(environment))
        # No typo: every variable given is one the settings or the Procfile read.
        assert set(environment) <= known, (name, set(environment) - known)
        assert environment["DJANGO_DEBUG"] == "0"
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert "@postgres:" in environment["DATABASE_URL"]
        # Secrets come from the deployer's .env, never from this file; compose refuses to start
        # without them.
        for secret in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"):
            assert environment[secret].startswith(f"${{{secret}:?"), secret


def test_the_image_runs_as_a_user_and_carries_its_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0"), users
    assert "collectstatic" in dockerfile
    entrypoint = ROOT / "docker" / "entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    assert "/docker/entrypoint.sh" in dockerfile


def production_env(**overrides):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DISPATCH_", "TWILIO_", "PUBLIC_BASE_URL"))
    }
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="112.example.go.id",
        DISPATCH_DEMO_ENV_FILE="",
    )
    env.update(overrides)
    return env


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_checks():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", env=production_env(DJANGO_SECRET_KEY=""))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_migrations_match_the_models_on_a_fresh_clone_with_no_environment():
    """A contributor's (and a pre-commit hook's) `makemigrations --check` needs no secret key:
    it signs nothing; the settings still refuse every other command without one."""
    bare = {"PATH": os.environ["PATH"], "DISPATCH_DEMO_ENV_FILE": ""}
    result = manage("makemigrations", "--check", "--dry-run", env=bare)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
    assert "DJANGO_SECRET_KEY is required" in manage("check", env=bare).stderr


def start(env):
    """What every process does first (web, worker, beat): load the settings and the apps."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


TWILIO_CREDENTIALS = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TELEPHONY_BACKEND": "twillio"}, "TELEPHONY_BACKEND is 'twillio': set it to 'twilio'"),
        ({"TELEPHONY_BACKEND": "twilio"}, "needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
        (
            {"TELEPHONY_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32},
            "needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        ),
        ({"TELEPHONY_BACKEND": "twilio", **TWILIO_CREDENTIALS}, "needs PUBLIC_BASE_URL"),
        # Credentials alone choose Twilio, which then needs its callback address too.
        (TWILIO_CREDENTIALS, "needs PUBLIC_BASE_URL"),
        ({"REQUIRE_2FA": "admin,superviser"}, "REQUIRE_2FA names unknown roles: superviser"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be 'plain' or 'json'"),
        ({"TELEPHONY_SMS_BACKEND": "modem"}, "TELEPHONY_SMS_BACKEND is 'modem': set it to"),
        ({"TELEPHONY_SMS_BACKEND": "gateway"}, "needs SMS_GATEWAY_URL and SMS_GATEWAY_SECRET"),
        ({"TELEPHONY_SMS_BACKEND": "twilio"}, "needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
    ],
)
def test_a_bad_setting_stops_the_start_saying_what_to_set(overrides, message):
    result = start(production_env(**overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"TELEPHONY_BACKEND": "console"},
        {"TELEPHONY_BACKEND": "twilio", "PUBLIC_BASE_URL": "https://112.example.go.id"}
        | TWILIO_CREDENTIALS,
        # A developer's machine may try Twilio through a tunnel it sets up later.
        {"TELEPHONY_BACKEND": "twilio", "DJANGO_DEBUG": "1"} | TWILIO_CREDENTIALS,
        {"REQUIRE_2FA": "Admin, supervisor"},
        # Texts through the local gateway while Twilio does voice.
        {
            "TELEPHONY_SMS_BACKEND": "gateway",
            "SMS_GATEWAY_URL": "http://127.0.0.1:9090/send",
            "SMS_GATEWAY_SECRET": "s3cret",
        },
    ],
)
def test_good_settings_start(overrides):
    result = start(production_env(**overrides))
    assert result.returncode == 0, result.stderr


def test_collectstatic_builds_the_production_manifest(settings, tmp_path):
    """`collectstatic` as the image runs it: the manifest storage follows every reference a CSS
    or JS file makes (url(), sourceMappingURL) and refuses one to a missing file, so a vendored
    script that names its source map needs the map beside it."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    assert "vendor/chartjs/chart.umd.min.js" in manifest
    assert "vendor/leaflet/leaflet.js" in manifest


def test_the_web_process_collects_garbage_without_long_pauses():
    """What the Procfile's web line loads (dispatch.asgi) tunes the collector (config/asgi.py:
    why, and the fan-out's figures with and without)."""
    script = "import gc, dispatch.asgi; print(gc.get_threshold(), gc.get_freeze_count() > 0)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**production_env(), "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "(10000, 50, 100) True", result.stdout
