"""The configuration audit log: what a change did, written in the change's own transaction.

A caller that changes configuration does, inside one `transaction.atomic()`:

    before = audit.locked_state(instance)   # None for a new object
    ... save (or delete) ...
    audit.record(actor, instance, before, via=ConfigChange.Via.DESK)

`locked_state` reads the row as the database has it (a form has already written its input
onto the instance) under a row lock, so two concurrent edits are recorded one after the other.
"""

from agencies.models import (
    Agency,
    ConfigArea,
    ConfigChange,
    EscalationPolicy,
    RoutingRule,
    User,
)


def code_of(related):
    return related.code if related is not None else None


def agency_state(agency):
    return {
        "code": agency.code,
        "name": agency.name,
        "phone": agency.phone,
        "is_active": agency.is_active,
        "escalation_policy": agency.escalation_policy.name if agency.escalation_policy else None,
        "backup_agency": code_of(agency.backup_agency),
    }


def rule_state(rule):
    return {
        "category": code_of(rule.category),
        "area": code_of(rule.area),
        "agencies": sorted(agency.code for agency in rule.agencies.all()),
        "priority": rule.priority,
        "is_active": rule.is_active,
    }


def policy_state(policy):
    return {"name": policy.name, "steps": policy.steps}


def user_state(user):
    # Never the password, nor its hash: a reset shows as its action alone.
    return {
        "username": user.username,
        "role": user.role,
        "agency": code_of(user.agency),
        "phone": user.phone,
        "is_active": user.is_active,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
    }


# Each audited model: its area of the configuration and what of it the log keeps.
AUDITED = {
    Agency: (ConfigArea.AGENCIES, agency_state),
    RoutingRule: (ConfigArea.ROUTING, rule_state),
    EscalationPolicy: (ConfigArea.POLICIES, policy_state),
    User: (ConfigArea.USERS, user_state),
}


def snapshot(instance):
    _area, state = AUDITED[type(instance)]
    return state(instance)


def locked_state(instance):
    """The stored state of `instance` (None when it is new), its row locked until the
    transaction ends. Call it inside the transaction of the change."""
    if instance.pk is None:
        return None
    stored = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
    return snapshot(stored)


def action_between(before, after):
    if before is None:
        return ConfigChange.Action.CREATE
    if before.get("is_active") and after.get("is_active") is False:
        return ConfigChange.Action.DEACTIVATE
    if before.get("is_active") is False and after.get("is_active"):
        return ConfigChange.Action.REACTIVATE
    return ConfigChange.Action.UPDATE


def record(actor, instance, before, *, via, action=None):
    """Log a change of `instance` from `before` (locked_state's answer). A deletion is recorded
    before the row goes (`action=DELETE`); a save that changed nothing is not recorded, unless
    an explicit action (a password reset) says what happened."""
    area, _state = AUDITED[type(instance)]
    after = None if action == ConfigChange.Action.DELETE else snapshot(instance)
    if action is None:
        if before == after:
            return None
        action = action_between(before, after)
    return ConfigChange.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        area=area,
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        action=action,
        via=via,
        before=before,
        after=after,
    )


def field_changes(change):
    """`[(field, before, after)]` of the fields an entry changed, for people to read."""
    before, after = change.before or {}, change.after or {}
    return [
        (field, before.get(field), after.get(field))
        for field in dict.fromkeys([*before, *after])
        if before.get(field) != after.get(field)
    ]
