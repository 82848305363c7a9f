-- The permission catalogue and what each application role holds. Admin powers
-- exist only through these rows (and per-user overrides in user_permissions).
insert into public.permissions (name, resource, action, description)
values
  ('users.read',          'users',       'read',          'Read accounts, profiles and sessions of the tenant'),
  ('users.moderate',      'users',       'moderate',      'Suspend, ban and reactivate accounts'),
  ('users.verify',        'users',       'verify',        'Record identity, background and business checks'),
  ('users.manage_roles',  'users',       'manage_roles',  'Change users'' roles (customer, provider)'),
  ('users.manage_admins', 'users',       'manage_admins', 'Grant or remove the admin and super_admin roles'),
  ('permissions.manage',  'permissions', 'manage',        'Grant and revoke per-user permission overrides'),
  ('audit.read',          'audit',       'read',          'Read the tenant''s audit trail'),
  ('tenant.manage',       'tenant',      'manage',        'Change the marketplace''s settings and fees'),
  ('catalog.manage',      'catalog',     'manage',        'Manage the tenant''s categories and tags'),
  ('listings.moderate',   'listings',    'moderate',      'Read, suspend, reinstate and feature any listing'),
  ('bookings.manage',     'bookings',    'manage',        'Read and move any booking of the tenant'),
  ('reviews.moderate',    'reviews',     'moderate',      'Read and remove any review'),
  ('payments.read',       'payments',    'read',          'Read subscriptions, transactions, invoices and usage'),
  ('payments.refund',     'payments',    'refund',        'Mark bookings refunded'),
  ('referrals.manage',    'referrals',   'manage',        'Run referral programs'),
  ('flags.manage',        'flags',       'manage',        'Manage feature flags and user overrides'),
  ('analytics.read',      'analytics',   'read',          'Read analytics events'),
  ('system.read',         'system',      'read',          'Read system logs'),
  ('webhooks.manage',     'webhooks',    'manage',        'Read all webhook endpoints and deliveries of the tenant'),
  ('files.moderate',      'files',       'moderate',      'Read and remove any uploaded file')
on conflict (name) do update set resource = excluded.resource, action = excluded.action, description = excluded.description;

insert into public.role_permissions (role, permission_id, granted)
select m.role::public.user_role, p.id, true
from (values
  ('admin', 'users.read'), ('admin', 'users.moderate'), ('admin', 'users.verify'), ('admin', 'users.manage_roles'),
  ('admin', 'audit.read'), ('admin', 'catalog.manage'), ('admin', 'listings.moderate'), ('admin', 'bookings.manage'),
  ('admin', 'reviews.moderate'), ('admin', 'payments.read'), ('admin', 'payments.refund'), ('admin', 'referrals.manage'),
  ('admin', 'flags.manage'), ('admin', 'analytics.read'), ('admin', 'webhooks.manage'), ('admin', 'files.moderate')
) as m(role, permission)
join public.permissions p on p.name = m.permission
on conflict (role, permission_id) do nothing;

-- super_admin holds every permission.
insert into public.role_permissions (role, permission_id, granted)
select 'super_admin', p.id, true from public.permissions p
on conflict (role, permission_id) do nothing;
