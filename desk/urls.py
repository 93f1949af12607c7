from django.urls import path

from desk import views

app_name = "desk"

urlpatterns = [
    path("", views.home, name="home"),
    path("routing/", views.routing_rules, name="routing"),
    path("routing/new/", views.routing_rule, name="routing-new"),
    path("routing/<int:pk>/", views.routing_rule, name="routing-rule"),
    path("routing/<int:pk>/delete/", views.routing_rule_delete, name="routing-delete"),
    path("policies/", views.policies, name="policies"),
    path("policies/new/", views.policy, name="policy-new"),
    path("policies/<int:pk>/", views.policy, name="policy"),
    path("agencies/", views.agencies, name="agencies"),
    path("agencies/<str:code>/", views.agency, name="agency"),
    path("users/", views.users, name="users"),
    path("users/new/", views.user, name="user-new"),
    path("users/<int:pk>/", views.user, name="user"),
    path("users/<int:pk>/password/", views.user_password, name="user-password"),
]
