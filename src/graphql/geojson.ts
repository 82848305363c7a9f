import { gatherConfig } from 'postgraphile/graphile-build';
import { GraphQLError, type ValueNode, valueFromASTUntyped } from 'postgraphile/graphql';

/*
 * PostGIS values as GeoJSON, in and out: a `GeoJSON` scalar for every `geography` and
 * `geometry` column, argument and result. No PostGraphile 5 PostGIS plugin is usable
 * (graphile-postgis needs a missing peer; the others are for v4), and a codec is small: the
 * database writes GeoJSON (st_asgeojson) and reads EWKT, which is built here from the GeoJSON
 * (PostGIS's input functions do not take GeoJSON text, and a codec cannot wrap its parameter
 * in st_geomfromgeojson). Decision 0025.
 */

type Position = readonly number[];
export interface Geometry {
  readonly type: string;
  readonly coordinates?: unknown;
  readonly geometries?: readonly Geometry[];
}

const position = (p: unknown): string => {
  if (
    !Array.isArray(p) ||
    p.length < 2 ||
    p.length > 4 ||
    !p.every((n) => typeof n === 'number' && Number.isFinite(n))
  ) {
    throw new GraphQLError('GeoJSON positions are arrays of 2 to 4 finite numbers: [longitude, latitude]');
  }
  return (p as Position).join(' ');
};
const list = <T>(value: unknown, each: (item: unknown) => T, what: string): T[] => {
  if (!Array.isArray(value) || value.length === 0) throw new GraphQLError(`GeoJSON ${what} must be a non-empty array`);
  return value.map(each);
};
const line = (c: unknown) => `(${list(c, position, 'line coordinates').join(', ')})`;
const polygon = (c: unknown) => `(${list(c, line, 'polygon rings').join(', ')})`;

/** The WKT of a GeoJSON geometry (RFC 7946), refusing anything else with a GraphQL error. */
export function geoJsonToWkt(value: unknown): string {
  if (typeof value !== 'object' || value === null || typeof (value as Geometry).type !== 'string') {
    throw new GraphQLError(
      'expected a GeoJSON geometry object, e.g. {"type": "Point", "coordinates": [-73.98, 40.75]}',
    );
  }
  const g = value as Geometry;
  switch (g.type) {
    case 'Point':
      return `POINT(${position(g.coordinates)})`;
    case 'MultiPoint':
      return `MULTIPOINT(${list(g.coordinates, (p) => `(${position(p)})`, 'coordinates').join(', ')})`;
    case 'LineString':
      return `LINESTRING${line(g.coordinates)}`;
    case 'MultiLineString':
      return `MULTILINESTRING(${list(g.coordinates, line, 'coordinates').join(', ')})`;
    case 'Polygon':
      return `POLYGON${polygon(g.coordinates)}`;
    case 'MultiPolygon':
      return `MULTIPOLYGON(${list(g.coordinates, polygon, 'coordinates').join(', ')})`;
    case 'GeometryCollection':
      return `GEOMETRYCOLLECTION(${list(g.geometries, geoJsonToWkt, 'geometries').join(', ')})`;
    default:
      throw new GraphQLError(`${JSON.stringify(g.type)} is not a GeoJSON geometry type`);
  }
}

const TYPE_NAMES = ['geography', 'geometry'] as const;

export const GeoJsonPlugin: GraphileConfig.Plugin = {
  name: 'LoconomyGeoJsonPlugin',
  version: '1.0.0',
  description: 'PostGIS geography and geometry values as GeoJSON',
  gather: gatherConfig({
    initialState(_cache, { lib }) {
      const { sql } = lib;
      const { listOfCodec } = lib.dataplanPg;
      const codecs = Object.fromEntries(
        TYPE_NAMES.map((name) => {
          const codec = {
            name,
            sqlType: sql.identifier('extensions', name),
            // GeoJSON with 9 decimals (about 0.1 mm), as text the codec parses.
            castFromPg: (fragment: ReturnType<typeof sql.identifier>) =>
              sql`extensions.st_asgeojson(${fragment}, 9)::text`,
            listCastFromPg: (fragment: ReturnType<typeof sql.identifier>) =>
              sql`(select array_agg(extensions.st_asgeojson(g, 9)::text) from unnest(${fragment}) g)::text`,
            fromPg: (text: string) => JSON.parse(text) as Geometry,
            toPg: (value: Geometry) => `SRID=4326;${geoJsonToWkt(value)}`,
            executor: null,
            attributes: undefined,
          };
          return [name, { codec, list: listOfCodec(codec as never) }];
        }),
      );
      return { codecs };
    },
    hooks: {
      async pgCodecs_findPgCodec(info, event) {
        if (event.pgCodec) return;
        const { serviceName, pgType } = event;
        const base = pgType.typname.replace(/^_/, '') as (typeof TYPE_NAMES)[number];
        if (!TYPE_NAMES.includes(base)) return;
        const postgis = await info.helpers.pgIntrospection.getExtensionByName(serviceName, 'postgis');
        if (!postgis || pgType.typnamespace !== postgis.extnamespace) return;
        const found = (info.state as { codecs: Record<string, { codec: unknown; list: unknown }> }).codecs[base];
        event.pgCodec = (pgType.typname.startsWith('_') ? found?.list : found?.codec) as typeof event.pgCodec;
      },
    },
  }),
  schema: {
    hooks: {
      init(_, build) {
        const codecs = TYPE_NAMES.map((name) => build.pgCodecs[name]).filter((c) => c !== undefined);
        if (codecs.length === 0) return _;
        const typeName = 'GeoJSON';
        build.registerScalarType(
          typeName,
          {},
          () => ({
            description: build.wrapDescription(
              'A PostGIS geography or geometry as a GeoJSON geometry object (RFC 7946): {"type": "Point", "coordinates": [longitude, latitude]}. Coordinates are WGS 84 (SRID 4326).',
              'type',
            ),
            specifiedByURL: 'https://www.rfc-editor.org/rfc/rfc7946',
            serialize: (value: unknown) => value,
            parseValue: (value: unknown) => {
              geoJsonToWkt(value); // refuses what is not a geometry
              return value;
            },
            parseLiteral: (ast: ValueNode, variables?: Record<string, unknown> | null) => {
              const value = valueFromASTUntyped(ast, variables);
              geoJsonToWkt(value);
              return value;
            },
          }),
          'GeoJSON scalar for PostGIS types (src/graphql/geojson.ts)',
        );
        for (const codec of codecs) {
          build.setGraphQLTypeForPgCodec(codec, 'output', typeName);
          build.setGraphQLTypeForPgCodec(codec, 'input', typeName);
        }
        return _;
      },
    },
  },
};
