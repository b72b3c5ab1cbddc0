# Starts the Rack oracle (config.ru) under WEBrick on 127.0.0.1:PORT.
require 'rack'
require 'rack/handler/webrick'

port = Integer(ARGV[0] || ENV['PORT'] || 0)
abort 'usage: ruby server.rb PORT' if port.zero?
# WEBrick refuses request lines over 2083 bytes; Puma, the usual Rack server,
# takes query strings up to 10 KiB: let long ones through, as it would.
WEBrick::HTTPRequest.send(:remove_const, :MAX_URI_LENGTH)
WEBrick::HTTPRequest.const_set(:MAX_URI_LENGTH, 16 * 1024)
app, = Rack::Builder.parse_file(File.join(__dir__, 'config.ru'))
Rack::Handler::WEBrick.run(app, Host: '127.0.0.1', Port: port, AccessLog: [],
                                Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN))
