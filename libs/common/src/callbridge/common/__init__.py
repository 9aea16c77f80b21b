"""callbridge's shared contracts: every schema, subject, bucket and helper the services agree on."""
