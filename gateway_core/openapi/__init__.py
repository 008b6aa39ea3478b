"""The OpenAPI 3.1 document (docs/openapi.md).

- document.py: the document, its server URL, info, tags and security schemes; YAML output
- components.py: the schema components of every objecttype (output, Input, Patch, ById)
- facades.py: facade endpoints' shapes and the query parameters their mappings read
- parameters.py: query parameters, the query language as typed filter families
- operations.py: the operations of an endpoint (and its audit trail)
- responses.py: responses, headers (API-Version) and the shared problem responses
- names.py: component names, references and operation ids
"""

from gateway_core.openapi.document import OPENAPI_VERSION, ApiInfo, as_yaml, openapi_document
from gateway_core.openapi.facades import FacadeDoc

__all__ = ["OPENAPI_VERSION", "ApiInfo", "FacadeDoc", "as_yaml", "openapi_document"]
