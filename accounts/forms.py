"""The login forms: Django's, plus the authenticator code for roles in `REQUIRE_2FA`."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts.signin import second_factor_error


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Wrong username or password."),
    }
    otp_token = forms.CharField(
        label=_("Authenticator code"), required=False, max_length=16, strip=True
    )

    @property
    def asks_second_factor(self):
        return bool(settings.REQUIRE_2FA)

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        error = second_factor_error(user, self.cleaned_data.get("otp_token", ""))
        if error:
            raise forms.ValidationError({"otp_token": error})


class AdminSignInForm(SignInForm, AdminAuthenticationForm):
    """The admin's login: staff only (AdminAuthenticationForm), with the same second factor."""

    error_messages = AdminAuthenticationForm.error_messages
