{#- Layers land in schemas named after them (staging, intermediate, marts), not
    "<target>_<layer>": the publish step and BI users address them by these names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
