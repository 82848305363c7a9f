/*
 * The read cases asked of REST and of GraphQL for the same fields (graphql.bench.ts and
 * rest-cpu.bench.ts's graphql mode): (a) one listing by id, (b) 20 listings with their provider
 * and category. REST's names, and GraphQL's camelCase of them.
 */

export const LISTING =
  'id,title,description,slug,pricing_type,hourly_rate_cents,currency,status,rating_average,created_at';
const LISTING_GQL = 'id title description slug pricingType hourlyRateCents currency status ratingAverage createdAt';

/** (a) as GraphQL, with the id as a variable. */
export const BY_ID_GQL = `query ($id: UUID!) { listing(id: $id) { ${LISTING_GQL} } }`;

// No status filter on either side: RLS gives anon the active listings only (GraphQL offers filters
// on indexed columns, and listings.status has no index of its own).
/** (b) as a REST query string. */
export const EMBED = `select=${LISTING},provider:user_profiles(display_name,avatar_url),category:categories(name,slug)&limit=20`;
/** (b) as GraphQL. */
export const EMBED_GQL = `{ listings(first: 20, orderBy: NATURAL) { nodes { ${LISTING_GQL} provider { displayName avatarUrl } category { name slug } } } }`;

export const graphqlBody = (query: string, variables: Record<string, unknown> = {}) =>
  JSON.stringify({ query, variables });
