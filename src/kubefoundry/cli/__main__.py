from kubefoundry.cli.app import main

main()
