"""API shapes of the reference data. Agencies, categories and areas are addressed by code."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from agencies.models import (
    Agency,
    Area,
    Category,
    EscalationPolicy,
    RoutingRule,
    User,
    validate_escalation_steps,
)
from agencies.phones import InvalidPhoneNumber, to_e164


class E164PhoneField(serializers.CharField):
    """A phone number as people type it (0812-3456-7890), stored in E.164 (+6281234567890)."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if not text:
            return ""
        try:
            return to_e164(text)
        except InvalidPhoneNumber:
            raise serializers.ValidationError(_("Not a valid phone number.")) from None


class CodeRelatedField(serializers.SlugRelatedField):
    """A related object given by its code. A value with a NUL character is refused before the
    lookup: PostgreSQL cannot even compare one (a DataError, which would be a 500)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


class AreaSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Area
        fields = ["code", "name", "kind", "parent", "aliases", "latitude", "longitude"]


class CategorySerializer(serializers.ModelSerializer):
    default_priority = serializers.IntegerField(min_value=1, max_value=4)

    class Meta:
        model = Category
        fields = ["code", "name", "default_priority"]


class EscalationPolicySerializer(serializers.ModelSerializer):
    def validate_steps(self, steps):
        try:
            validate_escalation_steps(steps)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return steps

    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "steps"]


class AgencySerializer(serializers.ModelSerializer):
    escalation_policy = serializers.PrimaryKeyRelatedField(
        queryset=EscalationPolicy.objects.all(), allow_null=True, required=False
    )
    backup_agency = CodeRelatedField(
        slug_field="code", queryset=Agency.objects.all(), allow_null=True, required=False
    )
    phone = E164PhoneField(required=False, allow_blank=True, max_length=20)

    def validate_backup_agency(self, backup):
        if backup is not None and self.instance is not None and backup.pk == self.instance.pk:
            raise serializers.ValidationError(_("An agency cannot be its own backup."))
        return backup

    class Meta:
        model = Agency
        fields = ["code", "name", "phone", "is_active", "escalation_policy", "backup_agency"]


class RoutingRuleSerializer(serializers.ModelSerializer):
    category = CodeRelatedField(
        slug_field="code", queryset=Category.objects.all(), allow_null=True, required=False
    )
    area = CodeRelatedField(
        slug_field="code",
        queryset=Area.objects.filter(kind=Area.Kind.KECAMATAN),
        allow_null=True,
        required=False,
    )
    agencies = CodeRelatedField(
        slug_field="code", queryset=Agency.objects.all(), many=True, allow_empty=False
    )

    class Meta:
        model = RoutingRule
        fields = ["id", "category", "area", "agencies", "priority", "is_active"]


class UserSerializer(serializers.ModelSerializer):
    phone = E164PhoneField(required=False, allow_blank=True, max_length=20)
    password = serializers.CharField(
        write_only=True, required=False, style={"input_type": "password"}
    )
    agency = CodeRelatedField(
        slug_field="code", queryset=Agency.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "password",
            "role",
            "agency",
            "phone",
            "is_active",
            "first_name",
            "last_name",
            "email",
        ]

    def validate(self, attrs):
        role = attrs.get("role", getattr(self.instance, "role", None))
        agency = attrs.get("agency", getattr(self.instance, "agency", None))
        if role == User.Role.AGENCY_STAFF and agency is None:
            raise serializers.ValidationError(
                {"agency": _("Agency staff must belong to an agency.")}
            )
        if role != User.Role.AGENCY_STAFF and agency is not None:
            raise serializers.ValidationError(
                {"agency": _("Only agency staff can belong to an agency.")}
            )
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": _("This field is required.")})
        if attrs.get("password"):
            candidate = User(username=attrs.get("username", getattr(self.instance, "username", "")))
            try:
                validate_password(attrs["password"], candidate)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs

    @transaction.atomic
    def create(self, validated_data):
        password = validated_data.pop("password")
        user = User(**validated_data)
        user.set_password(password)
        user.save()
        return user

    @transaction.atomic
    def update(self, instance, validated_data):
        password = validated_data.pop("password", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if password:
            instance.set_password(password)
        instance.save()
        return instance


class MeSerializer(serializers.ModelSerializer):
    agency = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = User
        fields = ["username", "role", "agency"]
