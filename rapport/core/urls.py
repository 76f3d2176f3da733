from django.contrib.auth import views as auth_views
from django.urls import path

from rapport.core import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("settings/", views.settings_home, name="settings"),
    path("settings/tokens/", views.tokens, name="tokens"),
    path("soon/<slug:area>/", views.coming_soon, name="coming_soon"),
]
