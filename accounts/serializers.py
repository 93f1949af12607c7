from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from accounts.signin import second_factor_error


class TokenRequestSerializer(AuthTokenSerializer):
    """`{"username", "password"}`, plus `otp` (the authenticator's code) for users whose role
    is in `REQUIRE_2FA` (CONTRACT §12)."""

    otp = serializers.CharField(
        label=_("Authenticator code"),
        required=False,
        allow_blank=True,
        max_length=16,
        write_only=True,
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        error = second_factor_error(attrs["user"], attrs.get("otp", ""))
        if error:
            raise serializers.ValidationError({"otp": [error]})
        return attrs
