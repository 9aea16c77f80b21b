"""callbridge dialer service: places outbound calls through the providers' REST APIs."""
