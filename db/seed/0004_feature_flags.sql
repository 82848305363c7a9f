-- Shared feature flags a fresh install starts with (all off or partly rolled out).
insert into public.feature_flags (tenant_id, key, description, flag_type, default_value, enabled_value, is_active, rollout_percentage, targeting_rules)
values
  (null, 'instant-booking',     'Customers book without waiting for the provider to confirm', 'boolean', 'false', 'true', false, 0, '{}'),
  (null, 'search.typo-tolerant', 'Fall back to trigram title matching when full-text search finds nothing', 'boolean', 'false', 'true', true, 50, '{}'),
  (null, 'provider-payouts-v2', 'Weekly instead of per-booking payouts', 'boolean', 'false', 'true', true, 10, '{"roles": ["provider"]}'),
  (null, 'checkout.theme',      'Checkout colour scheme experiment', 'string', '"classic"', '"bold"', true, 25, '{}')
on conflict ((coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)), key) do update
  set description = excluded.description;
