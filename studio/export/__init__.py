"""Export: a generated BentoML service per model, built into a bento, archived, and served locally."""

from studio.export.bento import ExportRequest, ExportResult, bento_name, export_bento, list_exports
from studio.export.serving import (
                                   ServiceInfo,
                                   ServiceResponse,
                                   call_predict,
                                   curl_line,
                                   is_ready,
                                   list_services,
                                   start_service,
                                   stop_service,
                                   wait_ready,
)

__all__ = [
    "ExportRequest", "ExportResult", "ServiceInfo", "ServiceResponse", "bento_name", "call_predict", "curl_line",
    "export_bento", "is_ready", "list_exports", "list_services", "start_service", "stop_service", "wait_ready",
]
