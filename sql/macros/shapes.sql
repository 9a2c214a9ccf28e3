{#- Shared shapes of the SQL templates. A template imports them after its header:
    {% import "macros/shapes.sql" as m %}
-#}

{#- The rows of one SELECT per item, glued with UNION ALL. The caller block gets the item
    and its 1-based index: {% call(event, i) m.union_all(events) %}SELECT ... FROM {{ event }}{% endcall %} -#}
{% macro union_all(items) %}
{% for item in items %}
{{ caller(item, loop.index) }}
{% if not loop.last %}
    UNION ALL
{% endif %}
{% endfor %}
{% endmacro %}

{#- The value of an event in `column` as `value`, with `select` (expressions over alias e)
    before it: the event's own column (sku, url) or, for category and price, the event sku's
    property via product_properties (an inner join: skus without properties drop out). -#}
{% macro event_values(event, column, select="e.client_id") %}
{% if column in ("category", "price") %}
    SELECT {{ select }}, p.{{ column }} AS value
    FROM {{ event }} e JOIN product_properties p ON p.sku = e.sku
{% else %}
    SELECT {{ select }}, e.{{ column }} AS value
    FROM {{ event }} e
{% endif %}
{% endmacro %}
