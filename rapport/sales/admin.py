from django.contrib import admin

from rapport.sales.models import LossReason, Pipeline, Product, ProductLine, Quota, Stage


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "is_default", "active"]
    inlines = [StageInline]


admin.site.register([ProductLine, Product, LossReason, Quota])
