-- The shared category tree (tenant_id NULL: offered in every tenant) and tags.
insert into public.categories (tenant_id, parent_id, name, slug, description, display_order)
values
  (null, null, 'Home Services',      'home-services', 'Repairs, cleaning and upkeep at home', 1),
  (null, null, 'Personal Care',      'personal-care', 'Beauty, wellness and fitness', 2),
  (null, null, 'Lessons & Tutoring', 'lessons',       'Tutors, coaches and teachers', 3),
  (null, null, 'Pet Care',           'pet-care',      'Walking, sitting and grooming', 4),
  (null, null, 'Tech Help',          'tech-help',     'Computers, phones and smart homes', 5),
  (null, null, 'Events',             'events',        'Photography, catering and entertainment', 6),
  (null, null, 'Automotive',         'automotive',    'Car care at your door', 7)
on conflict ((coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)), slug) do update
  set name = excluded.name, description = excluded.description, display_order = excluded.display_order;

insert into public.categories (tenant_id, parent_id, name, slug, display_order)
select null, parent.id, c.name, c.slug, c.display_order
from (values
  ('home-services', 'Plumbing', 'plumbing', 1), ('home-services', 'Electrical', 'electrical', 2),
  ('home-services', 'House Cleaning', 'house-cleaning', 3), ('home-services', 'Handyman', 'handyman', 4),
  ('home-services', 'Painting', 'painting', 5), ('home-services', 'Gardening & Landscaping', 'gardening', 6),
  ('home-services', 'Moving Help', 'moving', 7), ('home-services', 'Pest Control', 'pest-control', 8),
  ('home-services', 'Appliance Repair', 'appliance-repair', 9), ('home-services', 'Heating & Cooling', 'hvac', 10),
  ('personal-care', 'Hair & Beauty', 'hair-beauty', 1), ('personal-care', 'Massage', 'massage', 2),
  ('personal-care', 'Personal Training', 'personal-training', 3), ('personal-care', 'Yoga', 'yoga', 4),
  ('lessons', 'Academic Tutoring', 'tutoring', 1), ('lessons', 'Music Lessons', 'music-lessons', 2),
  ('lessons', 'Language Lessons', 'language-lessons', 3),
  ('pet-care', 'Dog Walking', 'dog-walking', 1), ('pet-care', 'Pet Sitting', 'pet-sitting', 2),
  ('pet-care', 'Pet Grooming', 'pet-grooming', 3),
  ('tech-help', 'Computer Repair', 'computer-repair', 1), ('tech-help', 'Phone Repair', 'phone-repair', 2),
  ('tech-help', 'Smart Home Setup', 'smart-home', 3),
  ('events', 'Photography', 'photography', 1), ('events', 'Catering', 'catering', 2), ('events', 'DJ', 'dj', 3),
  ('automotive', 'Mobile Car Wash', 'car-wash', 1), ('automotive', 'Mobile Mechanic', 'mobile-mechanic', 2)
) as c(parent_slug, name, slug, display_order)
join public.categories parent on parent.slug = c.parent_slug and parent.tenant_id is null
on conflict ((coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)), slug) do update
  set name = excluded.name, parent_id = excluded.parent_id, display_order = excluded.display_order;

insert into public.tags (tenant_id, name, slug)
values
  (null, 'Same day', 'same-day'), (null, 'Weekend', 'weekend'), (null, 'Emergency', 'emergency'),
  (null, 'Licensed', 'licensed'), (null, 'Insured', 'insured'), (null, 'Background checked', 'background-checked'),
  (null, 'Eco-friendly', 'eco-friendly'), (null, 'Family owned', 'family-owned'), (null, 'Bilingual', 'bilingual'),
  (null, 'Senior discount', 'senior-discount'), (null, 'Free estimate', 'free-estimate'), (null, 'Pet friendly', 'pet-friendly'),
  (null, '24/7', 'around-the-clock'), (null, 'Women owned', 'women-owned'), (null, 'Veteran owned', 'veteran-owned'),
  (null, 'Beginner friendly', 'beginner-friendly'), (null, 'Online', 'online'), (null, 'Group sessions', 'group-sessions')
on conflict ((coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)), slug) do update set name = excluded.name;

insert into public.referral_programs (tenant_id, name, description, reward_type, referrer_reward_cents, referee_reward_cents,
                                      currency, minimum_spend_cents, max_uses_per_code, code_validity_days, reward_validity_days)
select null, 'Give $20, get $20', 'Both of you get $20 of credit when your friend completes a first booking of $50 or more.',
       'credit', 2000, 2000, 'USD', 5000, 50, 365, 180
where not exists (select 1 from public.referral_programs where tenant_id is null and name = 'Give $20, get $20');
