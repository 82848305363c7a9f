-- Markets and cities with real coordinates. Idempotent: keyed by region code
-- and (region, city slug). A region's boundary is the union of its cities'
-- service circles, so point-in-market lookups work without shipping borders.
insert into public.regions (code, name, country_codes, time_zone, currency, locale, languages, commission_rate_bps, tax_rate_bps, compliance_settings)
values
  ('US', 'United States',  '{US}', 'America/New_York', 'USD', 'en-US', '{en,es}', 1000, 0,    '{"ccpa": true}'),
  ('CA', 'Canada',         '{CA}', 'America/Toronto',  'CAD', 'en-CA', '{en,fr}', 1000, 500,  '{"pipeda": true}'),
  ('UK', 'United Kingdom', '{GB}', 'Europe/London',    'GBP', 'en-GB', '{en}',    1200, 2000, '{"uk_gdpr": true}'),
  ('EU', 'European Union', '{DE,FR,ES,NL,IT,PT,SE}', 'Europe/Berlin', 'EUR', 'en-IE', '{en,de,fr,es,nl,it,pt,sv}', 1200, 1900, '{"gdpr": true}'),
  ('AU', 'Australia',      '{AU}', 'Australia/Sydney', 'AUD', 'en-AU', '{en}',    1000, 1000, '{"privacy_act": true}'),
  ('IN', 'India',          '{IN}', 'Asia/Kolkata',     'INR', 'en-IN', '{en,hi}', 800,  1800, '{"dpdp": true}'),
  ('BR', 'Brazil',         '{BR}', 'America/Sao_Paulo','BRL', 'pt-BR', '{pt}',    1000, 0,    '{"lgpd": true}'),
  ('MX', 'Mexico',         '{MX}', 'America/Mexico_City', 'MXN', 'es-MX', '{es}', 1000, 1600, '{}')
on conflict (code) do update set
  name = excluded.name, country_codes = excluded.country_codes, time_zone = excluded.time_zone,
  currency = excluded.currency, locale = excluded.locale, languages = excluded.languages,
  commission_rate_bps = excluded.commission_rate_bps, tax_rate_bps = excluded.tax_rate_bps,
  compliance_settings = excluded.compliance_settings;

insert into public.cities (region_id, name, slug, state_province, country_code, time_zone, location, population, service_radius_m)
select r.id, c.name, c.slug, c.state, c.country, c.tz, public.geo_point(c.lon, c.lat), c.population, 40000
from (values
  ('US', 'New York',       'new-york',       'NY', 'US', 'America/New_York',    -74.0060,  40.7128, 8336817),
  ('US', 'Los Angeles',    'los-angeles',    'CA', 'US', 'America/Los_Angeles', -118.2437, 34.0522, 3898747),
  ('US', 'Chicago',        'chicago',        'IL', 'US', 'America/Chicago',     -87.6298,  41.8781, 2746388),
  ('US', 'Houston',        'houston',        'TX', 'US', 'America/Chicago',     -95.3698,  29.7604, 2304580),
  ('US', 'Phoenix',        'phoenix',        'AZ', 'US', 'America/Phoenix',     -112.0740, 33.4484, 1608139),
  ('US', 'San Francisco',  'san-francisco',  'CA', 'US', 'America/Los_Angeles', -122.4194, 37.7749, 873965),
  ('US', 'Seattle',        'seattle',        'WA', 'US', 'America/Los_Angeles', -122.3321, 47.6062, 737015),
  ('US', 'Denver',         'denver',         'CO', 'US', 'America/Denver',      -104.9903, 39.7392, 715522),
  ('US', 'Austin',         'austin',         'TX', 'US', 'America/Chicago',     -97.7431,  30.2672, 961855),
  ('US', 'Boston',         'boston',         'MA', 'US', 'America/New_York',    -71.0589,  42.3601, 675647),
  ('US', 'Miami',          'miami',          'FL', 'US', 'America/New_York',    -80.1918,  25.7617, 442241),
  ('CA', 'Toronto',        'toronto',        'ON', 'CA', 'America/Toronto',     -79.3832,  43.6532, 2794356),
  ('CA', 'Montreal',       'montreal',       'QC', 'CA', 'America/Toronto',     -73.5673,  45.5017, 1762949),
  ('CA', 'Vancouver',      'vancouver',      'BC', 'CA', 'America/Vancouver',   -123.1207, 49.2827, 662248),
  ('UK', 'London',         'london',         'England',  'GB', 'Europe/London', -0.1276,   51.5072, 8799800),
  ('UK', 'Manchester',     'manchester',     'England',  'GB', 'Europe/London', -2.2426,   53.4808, 552000),
  ('UK', 'Edinburgh',      'edinburgh',      'Scotland', 'GB', 'Europe/London', -3.1883,   55.9533, 506520),
  ('EU', 'Berlin',         'berlin',         'Berlin',   'DE', 'Europe/Berlin',    13.4050, 52.5200, 3878100),
  ('EU', 'Paris',          'paris',          'Île-de-France', 'FR', 'Europe/Paris', 2.3522, 48.8566, 2102650),
  ('EU', 'Madrid',         'madrid',         'Madrid',   'ES', 'Europe/Madrid',    -3.7038, 40.4168, 3332035),
  ('EU', 'Amsterdam',      'amsterdam',      'North Holland', 'NL', 'Europe/Amsterdam', 4.9041, 52.3676, 921402),
  ('EU', 'Rome',           'rome',           'Lazio',    'IT', 'Europe/Rome',      12.4964, 41.9028, 2748109),
  ('EU', 'Lisbon',         'lisbon',         'Lisbon',   'PT', 'Europe/Lisbon',    -9.1393, 38.7223, 545796),
  ('EU', 'Stockholm',      'stockholm',      'Stockholm','SE', 'Europe/Stockholm', 18.0686, 59.3293, 984748),
  ('AU', 'Sydney',         'sydney',         'NSW', 'AU', 'Australia/Sydney',    151.2093, -33.8688, 5450496),
  ('AU', 'Melbourne',      'melbourne',      'VIC', 'AU', 'Australia/Melbourne', 144.9631, -37.8136, 5207145),
  ('AU', 'Brisbane',       'brisbane',       'QLD', 'AU', 'Australia/Brisbane',  153.0251, -27.4698, 2706966),
  ('IN', 'Mumbai',         'mumbai',         'Maharashtra', 'IN', 'Asia/Kolkata', 72.8777, 19.0760, 12442373),
  ('IN', 'Delhi',          'delhi',          'Delhi',       'IN', 'Asia/Kolkata', 77.1025, 28.7041, 16787941),
  ('IN', 'Bengaluru',      'bengaluru',      'Karnataka',   'IN', 'Asia/Kolkata', 77.5946, 12.9716, 8443675),
  ('BR', 'São Paulo',      'sao-paulo',      'SP', 'BR', 'America/Sao_Paulo',   -46.6333, -23.5505, 11451999),
  ('BR', 'Rio de Janeiro', 'rio-de-janeiro', 'RJ', 'BR', 'America/Sao_Paulo',   -43.1729, -22.9068, 6211223),
  ('MX', 'Mexico City',    'mexico-city',    'CDMX', 'MX', 'America/Mexico_City', -99.1332, 19.4326, 9209944),
  ('MX', 'Guadalajara',    'guadalajara',    'Jalisco', 'MX', 'America/Mexico_City', -103.3496, 20.6597, 1385629)
) as c(region, name, slug, state, country, tz, lon, lat, population)
join public.regions r on r.code = c.region
on conflict (region_id, slug) do update set
  name = excluded.name, state_province = excluded.state_province, country_code = excluded.country_code,
  time_zone = excluded.time_zone, location = excluded.location, population = excluded.population;

update public.regions r
   set center = s.center, boundary = s.boundary
  from (select c.region_id,
               st_centroid(st_collect(c.location::geometry))::geography as center,
               st_multi(st_union(st_buffer(c.location, c.service_radius_m)::geometry))::geography as boundary
          from public.cities c group by c.region_id) s
 where r.id = s.region_id;

-- The marketplace anonymous visitors see on a fresh install.
insert into public.tenants (name, slug, region_id, default_currency, default_time_zone, is_default)
select 'Loconomy', 'loconomy', r.id, 'USD', 'America/New_York', true
from public.regions r where r.code = 'US'
on conflict (slug) do nothing;
