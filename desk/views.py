"""The configuration desk (/config/, CONTRACT §11): server-rendered pages with Django forms.
Who may view or change what comes from agencies.rights; every change is saved together with
its audit-log entry (agencies.audit) in one transaction."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from agencies import audit, rights
from agencies.models import (
    Agency,
    Area,
    Category,
    ConfigArea,
    ConfigChange,
    EscalationPolicy,
    RoutingRule,
    User,
)
from desk import coverage
from desk.changelog import log_entries, step_text
from desk.forms import (
    AgencyForm,
    NewUserForm,
    PasswordResetForm,
    PolicyForm,
    RoutingRuleForm,
    StepFormSet,
    UserForm,
    step_rows,
)

# The desk's tabs, in the order of the bar: (area, URL name).
TABS = [
    (ConfigArea.ROUTING, "desk:routing"),
    (ConfigArea.POLICIES, "desk:policies"),
    (ConfigArea.AGENCIES, "desk:agencies"),
    (ConfigArea.USERS, "desk:users"),
]


def desk_page(area, needs=rights.VIEW):
    """A page of one area: it needs the area's right `needs` (a form: CHANGE), and a POST
    always CHANGE (agencies.rights); anyone else gets 403, the signed-out the sign-in page."""

    def decorate(view):
        @login_required
        @require_http_methods(["GET", "HEAD", "POST"])
        @wraps(view)
        def checked(request, *args, **kwargs):
            needed = rights.CHANGE if request.method == "POST" else needs
            if not rights.may(request.user, needed, area):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return checked

    return decorate


@login_required
def home(request):
    for area, url_name in TABS:
        if rights.may(request.user, rights.VIEW, area):
            return redirect(url_name)
    raise PermissionDenied


def save_with_log(request, form, action=None):
    """Save a model form and write its audit-log entry, in one transaction."""
    with transaction.atomic():
        before = audit.locked_state(form.instance)
        instance = form.save()
        audit.record(request.user, instance, before, via=ConfigChange.Via.DESK, action=action)
    return instance


def render_desk(request, area, template, context):
    tabs = [
        {"area": tab, "url": reverse(url_name), "current": tab == area}
        for tab, url_name in TABS
        if rights.may(request.user, rights.VIEW, tab)
    ]
    context = {
        "tabs": tabs,
        "area": area,
        "may_change": rights.may(request.user, rights.CHANGE, area),
        "log": log_entries(area),
        **context,
    }
    return render(request, template, context)


def render_form(request, area, form, *, title, back, delete_url=None):
    return render_desk(
        request,
        area,
        "desk/form.html",
        {"form": form, "title": title, "back": back, "delete_url": delete_url},
    )


# Routing rules.


@desk_page(ConfigArea.ROUTING)
def routing_rules(request):
    rules = RoutingRule.objects.select_related("category", "area").prefetch_related("agencies")
    kecamatan = list(Area.objects.filter(kind=Area.Kind.KECAMATAN).prefetch_related("children"))
    gaps = [
        {
            "category": category,
            "kecamatan": [area.name for area in missing],
            "everywhere": len(missing) == len(kecamatan),
        }
        for category, missing in coverage.uncovered()
    ]
    return render_desk(
        request,
        ConfigArea.ROUTING,
        "desk/routing.html",
        {
            "rules": rules,
            "gaps": gaps,
            "categories": Category.objects.all(),
            "kecamatan": kecamatan,
        },
    )


@desk_page(ConfigArea.ROUTING, needs=rights.CHANGE)
def routing_rule(request, pk=None):
    rule = get_object_or_404(RoutingRule, pk=pk) if pk else RoutingRule()
    form = RoutingRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        saved = save_with_log(request, form)
        messages.success(request, _("Routing rule #%(id)s saved.") % {"id": saved.pk})
        return redirect("desk:routing")
    title = _("Routing rule #%(id)s") % {"id": pk} if pk else _("New routing rule")
    delete_url = reverse("desk:routing-delete", args=[pk]) if pk else None
    return render_form(
        request,
        ConfigArea.ROUTING,
        form,
        title=title,
        back=reverse("desk:routing"),
        delete_url=delete_url,
    )


@desk_page(ConfigArea.ROUTING, needs=rights.CHANGE)
@require_POST
def routing_rule_delete(request, pk):
    rule = get_object_or_404(RoutingRule, pk=pk)
    with transaction.atomic():
        before = audit.locked_state(rule)
        audit.record(
            request.user, rule, before, via=ConfigChange.Via.DESK, action=ConfigChange.Action.DELETE
        )
        rule.delete()
    messages.success(request, _("Routing rule #%(id)s deleted.") % {"id": pk})
    return redirect("desk:routing")


# Escalation policies.


@desk_page(ConfigArea.POLICIES)
def policies(request):
    listed = EscalationPolicy.objects.prefetch_related("agencies")
    return render_desk(
        request,
        ConfigArea.POLICIES,
        "desk/policies.html",
        {"policies": [(policy, [step_text(s) for s in policy.steps]) for policy in listed]},
    )


@desk_page(ConfigArea.POLICIES, needs=rights.CHANGE)
def policy(request, pk=None):
    instance = get_object_or_404(EscalationPolicy, pk=pk) if pk else EscalationPolicy()
    form = PolicyForm(request.POST or None, instance=instance)
    steps = StepFormSet(request.POST or None, initial=step_rows(instance.steps), prefix="steps")
    if request.method == "POST" and form.is_valid() and steps.is_valid():
        form.instance.steps = steps.steps()
        saved = save_with_log(request, form)
        messages.success(request, _("Escalation policy %(name)s saved.") % {"name": saved.name})
        return redirect("desk:policies")
    title = instance.name if pk else _("New escalation policy")
    return render_desk(
        request,
        ConfigArea.POLICIES,
        "desk/policy_form.html",
        {"form": form, "steps": steps, "title": title, "back": reverse("desk:policies")},
    )


# Agencies.


@desk_page(ConfigArea.AGENCIES)
def agencies(request):
    listed = Agency.objects.select_related("backup_agency", "escalation_policy")
    return render_desk(request, ConfigArea.AGENCIES, "desk/agencies.html", {"agencies": listed})


@desk_page(ConfigArea.AGENCIES, needs=rights.CHANGE)
def agency(request, code):
    instance = get_object_or_404(Agency, code=code)
    form = AgencyForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        save_with_log(request, form)
        messages.success(request, _("Agency %(code)s saved.") % {"code": code})
        return redirect("desk:agencies")
    title = f"{instance.code} · {instance.name}"
    return render_form(
        request, ConfigArea.AGENCIES, form, title=title, back=reverse("desk:agencies")
    )


# Users.


@desk_page(ConfigArea.USERS)
def users(request):
    listed = User.objects.select_related("agency")
    return render_desk(request, ConfigArea.USERS, "desk/users.html", {"users": listed})


@desk_page(ConfigArea.USERS, needs=rights.CHANGE)
def user(request, pk=None):
    instance = get_object_or_404(User, pk=pk) if pk else User()
    form_class = UserForm if pk else NewUserForm
    form = form_class(request.POST or None, instance=instance, editor=request.user)
    if request.method == "POST" and form.is_valid():
        saved = save_with_log(request, form)
        messages.success(request, _("User %(name)s saved.") % {"name": saved.username})
        return redirect("desk:users")
    title = instance.username if pk else _("New user")
    return render_form(request, ConfigArea.USERS, form, title=title, back=reverse("desk:users"))


@desk_page(ConfigArea.USERS, needs=rights.CHANGE)
def user_password(request, pk):
    instance = get_object_or_404(User, pk=pk)
    form = PasswordResetForm(instance, request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Saving a new password ends the user's tokens and sessions (accounts.signals).
        save_with_log(request, form, action=ConfigChange.Action.PASSWORD_RESET)
        messages.success(
            request, _("The password of %(name)s was reset.") % {"name": instance.username}
        )
        return redirect("desk:users")
    title = _("New password for %(name)s") % {"name": instance.username}
    return render_form(request, ConfigArea.USERS, form, title=title, back=reverse("desk:users"))
