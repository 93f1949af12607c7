"""The configuration desk's forms. Their rules are the models' own (model `clean`, field
validators, `validate_escalation_steps`); the forms only turn page input into those values."""

from django import forms
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from agencies.models import (
    MAX_STEP_SECONDS,
    Agency,
    Area,
    Category,
    EscalationAction,
    EscalationPolicy,
    RoutingRule,
    User,
    validate_escalation_steps,
)
from agencies.phones import InvalidPhoneNumber, to_e164


class PhoneField(forms.CharField):
    """A phone number as people type it (0812-3456-7890), kept in E.164 (+6281234567890)."""

    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=20, **kwargs)

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return ""
        try:
            return to_e164(text)
        except InvalidPhoneNumber:
            raise ValidationError(_("Not a valid phone number.")) from None


class AgencyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, agency):
        return f"{agency.code} · {agency.name}"


class AgencyChoicesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, agency):
        return f"{agency.code} · {agency.name}"


class RoutingRuleForm(forms.ModelForm):
    category = forms.ModelChoiceField(
        Category.objects.all(),
        required=False,
        empty_label=_("Any category"),
        label=_("Category"),
    )
    area = forms.ModelChoiceField(
        Area.objects.filter(kind=Area.Kind.KECAMATAN),
        required=False,
        empty_label=_("Any kecamatan"),
        label=_("Kecamatan"),
    )
    agencies = AgencyChoicesField(
        Agency.objects.all(), widget=forms.CheckboxSelectMultiple, label=_("Agencies")
    )

    class Meta:
        model = RoutingRule
        fields = ["category", "area", "agencies", "priority", "is_active"]
        labels = {"priority": _("Priority (lower wins a tie)"), "is_active": _("Active")}
        help_texts = {"priority": ""}  # the label says it, in the page's language


class AgencyForm(forms.ModelForm):
    phone = PhoneField(label=_("Duty phone"))
    backup_agency = AgencyChoiceField(
        Agency.objects.all(),
        required=False,
        empty_label=_("None: the command centre"),
        label=_("Backup agency"),
    )

    class Meta:
        model = Agency
        fields = ["name", "phone", "backup_agency", "is_active", "escalation_policy"]
        labels = {
            "name": _("Name"),
            "is_active": _("Active"),
            "escalation_policy": _("Escalation policy"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backup_agency"].queryset = Agency.objects.exclude(pk=self.instance.pk)
        self.fields["escalation_policy"].empty_label = _("None: no escalation")


class PolicyForm(forms.ModelForm):
    class Meta:
        model = EscalationPolicy
        fields = ["name"]
        labels = {"name": _("Name")}


class StepForm(forms.Form):
    """One step as people think of it: after how many minutes, do what."""

    delay_minutes = forms.IntegerField(
        label=_("After (minutes)"), min_value=1, max_value=MAX_STEP_SECONDS // 60
    )
    # A blank first choice, so that a row nobody touched is no step rather than an error.
    action = forms.ChoiceField(label=_("Action"), choices=[("", "—"), *EscalationAction.choices])


class BaseStepFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_few_forms": _("A policy needs at least one step."),
    }

    def steps(self):
        """The policy's steps as stored (CONTRACT §8), in the order of the rows; a row left
        empty or marked for removal is no step."""
        return [
            {
                "after_seconds": form.cleaned_data["delay_minutes"] * 60,
                "action": form.cleaned_data["action"],
            }
            for form in self.forms
            if form.cleaned_data and form not in self.deleted_forms
        ]

    def clean(self):
        if any(self.errors):
            return
        try:
            validate_escalation_steps(self.steps())
        except ValidationError as error:
            raise ValidationError(error.messages) from None


StepFormSet = forms.formset_factory(
    StepForm,
    formset=BaseStepFormSet,
    extra=1,
    can_delete=True,
    min_num=1,
    validate_min=True,
)


def step_rows(steps):
    """A policy's stored steps as the step form set's initial rows."""
    return [
        {"delay_minutes": step["after_seconds"] // 60, "action": step["action"]} for step in steps
    ]


class UserForm(forms.ModelForm):
    agency = AgencyChoiceField(
        Agency.objects.all(), required=False, empty_label=_("None"), label=_("Agency")
    )
    phone = PhoneField(label=_("Phone"))

    class Meta:
        model = User
        fields = ["role", "agency", "phone", "is_active"]
        labels = {"role": _("Role"), "is_active": _("Active")}

    def __init__(self, *args, editor, **kwargs):
        super().__init__(*args, **kwargs)
        self.editor = editor

    def clean(self):
        cleaned = super().clean()
        # An admin who switched off their own account or role would lock themselves out of
        # the desk, perhaps leaving no admin at all: another admin must do it.
        if self.instance.pk == self.editor.pk and (
            not cleaned.get("is_active") or cleaned.get("role") != User.Role.ADMIN
        ):
            raise ValidationError(
                _("You cannot deactivate yourself or give up your own admin role.")
            )
        return cleaned


class NewUserForm(UserForm):
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(render_value=False), strip=False
    )

    class Meta(UserForm.Meta):
        fields = ["username", "password", "role", "agency", "phone"]
        labels = {"username": _("Username"), "role": _("Role")}

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password, User(username=self.cleaned_data.get("username", "")))
        return password

    def save(self, commit=True):
        self.instance.set_password(self.cleaned_data["password"])
        return super().save(commit)


class PasswordResetForm(SetPasswordForm):
    """Django's new-password form (twice, checked by the password validators), with the user
    as `instance` like the desk's model forms."""

    @property
    def instance(self):
        return self.user
