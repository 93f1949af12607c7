"""Issue 11's configuration desk in Chromium: a supervisor edits a routing rule and the
simulator beside the rules shows the new agency; an escalation policy edited as steps."""

from playwright.sync_api import expect

from agencies.models import Area, ConfigChange, EscalationPolicy, RoutingRule, User
from tests.e2e.conftest import SCREENSHOTS


def test_a_supervisor_edits_a_routing_rule_and_the_simulator_shows_the_new_agency(console):
    supervisor = console("supervisor1", User.Role.SUPERVISOR)
    rule = RoutingRule.objects.get(category__code="FIRE", area=None)
    suralaya = Area.objects.get(name="Suralaya", kind=Area.Kind.KELURAHAN)

    supervisor.get_by_role("link", name="Konfigurasi").click()
    expect(supervisor.locator("h2").first).to_have_text("Aturan penerusan")
    result = supervisor.get_by_test_id("sim-result")
    supervisor.select_option("#sim-category", "FIRE")
    supervisor.select_option("#sim-area", suralaya.code)
    expect(result).to_have_text(
        f"Kebakaran di Suralaya diteruskan ke DPKP menurut aturan #{rule.pk}."
    )
    expect(supervisor.locator(f"#rule-{rule.pk}")).to_have_class("matched")

    supervisor.get_by_role("link", name=f"Ubah #{rule.pk}", exact=True).click()
    supervisor.get_by_label("DPKP · ", exact=False).uncheck()
    supervisor.get_by_label("BPBD · ", exact=False).check()
    supervisor.get_by_role("button", name="Simpan").click()

    expect(supervisor.get_by_role("status").first).to_contain_text(
        f"Aturan penerusan #{rule.pk} disimpan."
    )
    supervisor.select_option("#sim-category", "FIRE")
    supervisor.select_option("#sim-area", suralaya.code)
    expect(result).to_have_text(
        f"Kebakaran di Suralaya diteruskan ke BPBD menurut aturan #{rule.pk}."
    )
    log = supervisor.get_by_test_id("config-log")
    expect(log).to_contain_text("supervisor1")
    expect(log).to_contain_text("DPKP → BPBD")
    expect(supervisor.get_by_test_id("routing-gaps")).to_contain_text("Lainnya")
    change = ConfigChange.objects.get(area="routing")
    assert change.actor.username == "supervisor1"
    assert change.after["agencies"] == ["BPBD"]
    assert not supervisor.errors
    supervisor.screenshot(path=SCREENSHOTS / "config-routing.png")


def step_row(page, number):
    return page.locator("#step-rows tr").nth(number - 1)


def test_an_escalation_policy_edited_as_steps(console, live):
    supervisor = console("supervisor1", User.Role.SUPERVISOR)
    policy = EscalationPolicy.objects.get()
    supervisor.goto(f"{live}/config/policies/")
    supervisor.get_by_role("link", name=f"Ubah {policy.name}").click()
    rows = supervisor.locator("#step-rows tr")
    expect(rows).to_have_count(6)  # the five steps and a blank one

    step_row(supervisor, 5).get_by_label("Hapus langkah ini").check()  # reroute after 10 min
    supervisor.get_by_role("button", name="Tambah langkah").click()
    expect(rows).to_have_count(7)
    added = step_row(supervisor, 7)
    expect(added.get_by_label("Setelah (menit)")).to_be_focused()
    added.get_by_label("Setelah (menit)").fill("15")
    added.get_by_label("Tindakan").select_option("reroute")
    supervisor.screenshot(path=SCREENSHOTS / "config-policy.png")
    supervisor.get_by_role("button", name="Simpan").click()
    expect(supervisor.get_by_role("status").first).to_contain_text("disimpan")
    policy.refresh_from_db()
    assert policy.steps == [
        {"after_seconds": 60, "action": "notify_agency"},
        {"after_seconds": 120, "action": "sms_agency"},
        {"after_seconds": 180, "action": "notify_supervisors"},
        {"after_seconds": 300, "action": "call_agency"},
        {"after_seconds": 900, "action": "reroute"},
    ]
    expect(supervisor.get_by_test_id("config-log")).to_contain_text("15 mnt: Alihkan")

    # The second step no later than the first: refused, in Indonesian, nothing saved.
    supervisor.get_by_role("link", name=f"Ubah {policy.name}").click()
    step_row(supervisor, 2).get_by_label("Setelah (menit)").fill("1")
    supervisor.get_by_role("button", name="Simpan").click()
    expect(supervisor.get_by_test_id("steps-errors")).to_have_text(
        "Langkah 2: jeda (after_seconds) harus lebih lama daripada langkah sebelumnya."
    )
    policy.refresh_from_db()
    assert policy.steps[1] == {"after_seconds": 120, "action": "sms_agency"}
    assert not supervisor.errors
