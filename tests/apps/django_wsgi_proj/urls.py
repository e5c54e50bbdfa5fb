from django.urls import path

from . import views

urlpatterns = [
    path('json/<int:number>/', views.json_view, name='json'),
    path('form/', views.form_view, name='form'),
    path('protected/', views.protected_form_view, name='protected'),
    path('body/', views.body_view, name='body'),
    path('stream/', views.stream_view, name='stream'),
    path('file/', views.file_view, name='file'),
    path('error/', views.error_view, name='error'),
]
