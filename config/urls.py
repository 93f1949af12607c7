from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.forms import AdminSignInForm, SignInForm
from config import health, metrics
from dispatch import views
from reports import views as reports_views

# One sign-in page for the site and the admin: the same lockout answer, the same second factor.
admin.site.login_form = AdminSignInForm
admin.site.login_template = "registration/login.html"

handler500 = views.failure


urlpatterns = [
    path("", views.home, name="home"),
    path("history/", views.history, name="history"),
    path("reports/", reports_views.reports_page, name="reports"),
    path("wall/", reports_views.wall, name="wall"),
    path("healthz/", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("calls/", include("calls.urls")),
    path("config/", include("desk.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
