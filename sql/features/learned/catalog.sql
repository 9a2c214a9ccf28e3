-- The product catalogue as the learned encoder's item tower reads it.
-- returns: (sku, category, price, name_0..name_15) for every product, ordered by sku.
SELECT sku, category, price,
{% for i in range(16) %}
       name[{{ i + 1 }}] AS name_{{ i }}{{ "," if not loop.last }}
{% endfor %}
FROM product_properties
ORDER BY sku
