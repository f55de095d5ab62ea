# MIME parser
