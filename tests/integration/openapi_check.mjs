// Validates an OpenAPI document with a standard validator (@apidevtools/swagger-parser, from npm: the schema
// of OpenAPI 3.0 and $ref resolution). Prints "valid" or the validator's complaint; exits non-zero when invalid.
//   node tests/integration/openapi_check.mjs FILE
import SwaggerParser from '@apidevtools/swagger-parser';

try {
  await SwaggerParser.validate(process.argv[2]);
  console.log('valid');
} catch (e) {
  console.log(String(e.message).split('\n').slice(0, 6).join('\n'));
  process.exit(1);
}
