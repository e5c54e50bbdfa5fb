from django.urls import path

from . import views

urlpatterns = [
    path('json/<int:number>/', views.json_view, name='json'),
    path('form/', views.form_view, name='form'),
    path('protected/', views.protected_form_view, name='protected'),
    path('stream/', views.stream_view, name='stream'),
    path('sync/', views.sync_view, name='sync'),
]
