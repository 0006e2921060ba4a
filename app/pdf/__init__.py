"""The PDF upload gate: refuses hostile or unsignable PDFs and reports each page's geometry."""
